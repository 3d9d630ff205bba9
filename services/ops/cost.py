"""What a shop costs on AWS a month: usage per AWS price, from per-operation counts, times
the list prices in `prices/aws-ap-northeast-1.json`.

Every count says where it comes from: a figure a `bench/` script measures (a test runs the
bench and holds the count to it), or an assumption, named as such. Pure: no AWS call.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

PRICES_FILE = Path(__file__).resolve().parent / "prices" / "aws-ap-northeast-1.json"
HOSTED_TOOLS_FILE = Path(__file__).resolve().parent / "prices" / "hosted-tools.json"
DAYS_PER_MONTH = 30
MINUTES_PER_MONTH = DAYS_PER_MONTH * 24 * 60


@dataclass(frozen=True)
class Price:
    usd: float
    per: int
    unit: str
    source: str
    recorded: str
    checked: str

    @property
    def each(self) -> float:
        return self.usd / self.per


def load_prices(path: Path = PRICES_FILE) -> dict[str, Price]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: Price(**fields) for name, fields in data["prices"].items()}


@dataclass(frozen=True)
class Count:
    """One per-operation figure and where it comes from."""

    value: float
    source: str
    measured: bool = False


COUNTS: dict[str, Count] = {
    # ---- measured by bench/ (tests/ops/test_cost.py runs the benches and compares)
    "ingest_ddb_requests": Count(
        2.0,
        "bench/dynamodb_requests.py, repeat_order: one batched read and one transaction "
        "per storefront event (first orders 2.1: a new customer's claim read)",
        measured=True,
    ),
    "send_ddb_requests": Count(
        3.0,
        "bench/messenger_requests.py, api_send and campaign_delivery: the recipient Query, "
        "the claim transaction, the `sent` write",
        measured=True,
    ),
    "tick_ddb_requests_per_shard": Count(
        1.0,
        "bench/journey_dispatch.py (README): one Limit-1 Query per due shard a minute, "
        "16 shards (Settings.journey_due_shards)",
        measured=True,
    ),
    # ---- assumptions (item sizes, durations, rates not measured yet)
    "ingest_read_units": Count(3.0, "assumed: the batched read returns 3 items of ≤4 KB"),
    "ingest_write_units": Count(
        10.0,
        "measured: an order.placed's transaction (marker, profile, order, activity, what it "
        "published), tests/segmenter/test_profile_size.py; a view is 8, priced as an order",
    ),
    "messenger_per_event_read_units": Count(
        2.0, "assumed, not measured: the messenger's read of an order or cart event"
    ),
    "messenger_per_event_write_units": Count(
        6.0, "assumed, not measured: a transaction of 3 items of ≤1 KB per order event"
    ),
    "segment_count_write_units": Count(
        2.0,
        "the segment count shard's ADD (≤1 KB) in the transaction of an event that moves "
        "someone into or out of a segment, doubled as every transactional write",
    ),
    "journey_week_write_units": Count(
        8.0,
        "assumed, an upper bound: every message is a journey's, counted twice (sent, "
        "delivered), each count adding the week's share and total items (≤1 KB each, "
        "doubled) to its transaction; a campaign's send writes none",
    ),
    "week_people_write_units": Count(
        8.0,
        "assumed, an upper bound: a message to someone counted already that week and metric "
        "finds the mark and writes its transaction once more without it (the claim's 4 "
        "items, doubled); to someone new, the mark and the people count shard's ADD (≤1 KB "
        "each, doubled) join it: 4 (messenger.adapters.journeys.week_mark)",
    ),
    "send_read_units": Count(1.0, "assumed: the recipient Query returns ≤4 KB"),
    "send_write_units": Count(
        9.0, "assumed: the claim transaction of 4 items of ≤1 KB, doubled, and the 1 KB write"
    ),
    "tick_read_units_per_shard": Count(0.5, "the minimum a Query costs, eventually consistent"),
    "shards": Count(16.0, "Settings.journey_due_shards default"),
    "segment_events_per_order": Count(1.0, "assumed: one entry or exit per order"),
    "segment_events_per_other_event": Count(0.1, "assumed"),
    "nightly_changed_share": Count(0.02, "assumed: 2 % of profiles change a segment a night"),
    "profile_kb": Count(2.0, "assumed: a profile item of 2 KB"),
    "identity_kb": Count(0.5, "assumed: two identity claims of 0.25 KB per person"),
    "order_kb": Count(1.0, "assumed: an order item of 1 KB"),
    "order_months_kept": Count(24.0, "assumed: two years of orders accumulated"),
    "activity_kb": Count(0.3, "assumed: an activity item of 0.3 KB"),
    "activity_months_kept": Count(13.0, "ACTIVITY_HISTORY_DAYS: views kept 400 days"),
    "delivery_kb": Count(0.5, "assumed: a delivery record of 0.5 KB"),
    "week_mark_kb": Count(
        0.1,
        "assumed, an upper bound: every message marks its person anew in the week's people "
        "(a mark of ≤0.1 KB: keys, week, metric, ttl)",
    ),
    "week_mark_months_kept": Count(13.0, "journeys.KEEP: a week's marks kept 400 days"),
    "delivery_months_kept": Count(3.0, "assumed: delivery records expire after 90 days"),
    "snapshot_kb_per_customer": Count(0.1, "assumed: Parquet, compressed"),
    "snapshot_kb_per_order": Count(0.1, "assumed: Parquet, compressed"),
    "snapshot_puts_per_night": Count(20.0, "assumed: snapshot files and report objects"),
    "report_gets_per_day": Count(100.0, "assumed: console and API report reads"),
    "api_ms": Count(40.0, "assumed: a warm API request at 512 MB"),
    "event_ms": Count(40.0, "assumed: a warm event invocation at 512 MB"),
    "send_ms": Count(30.0, "assumed: one delivery's share of a campaign batch at 512 MB"),
    "tick_ms": Count(100.0, "assumed: one dispatcher tick at 512 MB"),
    "nightly_ms_per_profile": Count(
        0.173,
        "2026-12-04, `python bench/nightly_fanout.py --single-customers 20000` (1,000,000 "
        "profiles; README, Reliability: Scale): 173.2 Lambda-seconds summed over the "
        "fan-out's calls of NightlyFunction (3008 MB), the recommendation model's shares "
        "included, wall time on the shared 2-core machine (load 6.6 to 3.2), the seeding "
        "frozen out of the collector. Before the model was in the fan-out: 0.184 ms; at "
        "100,000 under load 9.6: 0.534 ms; 0.742 ms before the freeze",
    ),
    "analytics_ms_per_profile": Count(
        0.174,
        "2026-12-04, `python bench/analytics_memory.py --customers 1000000 "
        "--orders-per-customer 10` (README, analytics): 174 s of CPU for the pass over "
        "1,000,000 customers and 9,989,911 orders, at AnalyticsFunction's 10,240 MB. Lambda "
        "bills wall time: three quarters of the pass is one thread decoding the scanned "
        "items, so a 6-vCPU function's wall is near this CPU time, not below it",
    ),
    "nightly_segments": Count(
        16.0, "infra/template.yaml: the NightlyRecompute schedule's input total_segments"
    ),
    "nightly_top_transitions": Count(
        5.0, "infra/template.yaml NightlyRecomputeMachine: Plan, Rank, Pools, Apply, Finish"
    ),
    "fanout_transitions_per_child": Count(
        2.0, "assumed: a Distributed Map child's start and its one Task state, per Map"
    ),
}


@dataclass(frozen=True)
class Workload:
    customers: int
    orders_per_month: int
    messages_per_month: int
    other_events_per_month: int = 0
    """Storefront events besides orders: views, carts, customer upserts."""
    sms_share: float = 0.0
    line_share: float = 0.0
    """LINE pushes cost nothing on AWS (LINE bills them); the rest of the messages is mail."""


@dataclass(frozen=True)
class Line:
    service: str
    what: str
    price: str
    quantity: float
    usd: float
    in_total: bool = True


def _c(name: str) -> float:
    return COUNTS[name].value


def usage(w: Workload) -> list[tuple[str, str, str, float, bool]]:
    """(service, what, price key, quantity, counted in the total) for one month."""
    events = w.orders_per_month + w.other_events_per_month
    emails = w.messages_per_month * (1 - w.sms_share - w.line_share)
    sms = w.messages_per_month * w.sms_share
    nights = DAYS_PER_MONTH
    changed = w.customers * _c("nightly_changed_share") * nights
    segment_events = (
        w.orders_per_month * _c("segment_events_per_order")
        + w.other_events_per_month * _c("segment_events_per_other_event")
        + changed
    )
    published = events + segment_events + w.messages_per_month
    # Each published event is one invocation per function its rules deliver it to:
    # order.placed and segment.* reach the messenger and feedback, other storefront
    # events and message.sent the messenger only.
    invocations = 2 * w.orders_per_month + 2 * segment_events + w.other_events_per_month
    invocations += w.messages_per_month
    ticks = MINUTES_PER_MONTH
    reads = (
        events * _c("ingest_read_units")
        + events * _c("messenger_per_event_read_units")
        + w.messages_per_month * _c("send_read_units")
        + ticks * _c("shards") * _c("tick_read_units_per_shard")
        + nights * w.customers * _c("profile_kb") / 4 * 0.5 * 2  # nightly + analytics scans
    )
    writes = (
        events * _c("ingest_write_units")
        + events * _c("messenger_per_event_write_units")
        + w.messages_per_month
        * (_c("send_write_units") + _c("journey_week_write_units") + _c("week_people_write_units"))
        + (segment_events - changed) * _c("segment_count_write_units")
        + changed * math.ceil(_c("profile_kb"))
    )
    stored_kb = (
        w.customers * (_c("profile_kb") + _c("identity_kb"))
        + w.orders_per_month * _c("order_months_kept") * _c("order_kb")
        + w.other_events_per_month * _c("activity_months_kept") * _c("activity_kb")
        + w.messages_per_month * _c("delivery_months_kept") * _c("delivery_kb")
        + w.messages_per_month * _c("week_mark_months_kept") * _c("week_mark_kb")
    )
    stored_gb = stored_kb / 1024 / 1024
    gb_512 = 0.5
    gb_seconds = (
        events * _c("api_ms") / 1000 * gb_512
        + invocations * _c("event_ms") / 1000 * gb_512
        + w.messages_per_month * _c("send_ms") / 1000 * gb_512
        + ticks * _c("tick_ms") / 1000 * gb_512
        + nights * w.customers * _c("nightly_ms_per_profile") / 1000 * 3008 / 1024
        + nights * w.customers * _c("analytics_ms_per_profile") / 1000 * 10240 / 1024
    )
    segments = _c("nightly_segments")
    # a night: Plan, Pools and Finish, a Rank and an Apply child per segment, the analytics pass
    lambda_requests = events + invocations + ticks + nights * (3 + 2 * segments + 1)
    snapshot_kb = w.customers * _c("snapshot_kb_per_customer") + (
        w.orders_per_month * _c("order_months_kept") * _c("snapshot_kb_per_order")
    )
    transitions = nights * (
        _c("nightly_top_transitions") + 2 * segments * _c("fanout_transitions_per_child")
    )
    return [
        ("DynamoDB", "write request units", "dynamodb_write_request_unit", writes, True),
        ("DynamoDB", "read request units", "dynamodb_read_request_unit", reads, True),
        ("DynamoDB", "storage, GB-month", "dynamodb_storage_gb_month", stored_gb, True),
        ("DynamoDB", "point-in-time recovery, GB-month", "dynamodb_pitr_gb_month", stored_gb, True),
        ("EventBridge", "events published", "eventbridge_custom_event", published, True),
        ("Lambda", "invocations", "lambda_request", lambda_requests, True),
        ("Lambda", "GB-seconds (arm64)", "lambda_arm_gb_second", gb_seconds, True),
        ("API Gateway", "HTTP API requests", "api_gateway_http_request", events, True),
        ("SES", "emails", "ses_email", emails, True),
        ("SNS", "SMS to Japan (one part each)", "sns_sms_japan", sms, True),
        ("S3", "analytics snapshot, GB-month", "s3_storage_gb_month", snapshot_kb / 1024**2, True),
        ("S3", "PUT requests", "s3_put_request", nights * _c("snapshot_puts_per_night"), True),
        ("S3", "GET requests", "s3_get_request", nights * _c("report_gets_per_day"), True),
        (
            "Step Functions",
            "state transitions (the nightly recompute's state machine)",
            "step_functions_state_transition",
            transitions,
            True,
        ),
    ]


def monthly_cost(w: Workload, prices: dict[str, Price] | None = None) -> list[Line]:
    """Each usage line priced; `total` adds those counted in the total."""
    prices = prices or load_prices()
    return [
        Line(service, what, key, quantity, quantity * prices[key].each, counted)
        for service, what, key, quantity, counted in usage(w)
    ]


def total(lines: list[Line]) -> float:
    return sum(line.usd for line in lines if line.in_total)


@dataclass(frozen=True)
class HostedTool:
    """A hosted tool's list price by profile count: either tiers (the smallest tier that
    holds the profiles; `above` past the last) or a free allowance then a price per block."""

    name: str
    currency: str
    basis: str
    source: str
    recorded: str
    checked: str
    tiers: tuple[tuple[int, float], ...] = ()
    above: str = ""
    free_profiles: int = 0
    block: tuple[int, float] | None = None

    def monthly(self, profiles: int) -> tuple[float | None, str]:
        """The month's list price for `profiles`, or None with why (past the last tier)."""
        if self.block is not None:
            size, price = self.block
            blocks = math.ceil(max(0, profiles - self.free_profiles) / size)
            return blocks * price, f"{blocks} x {size:,} contacts above {self.free_profiles:,}"
        for limit, price in self.tiers:
            if profiles <= limit:
                return price, f"the {limit:,}-profile tier"
        return None, f"{self.above} above {self.tiers[-1][0]:,} profiles"


def load_hosted_tools(path: Path = HOSTED_TOOLS_FILE) -> list[HostedTool]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        HostedTool(
            **{k: v for k, v in tool.items() if k not in ("tiers", "block")},
            tiers=tuple((int(limit), float(price)) for limit, price in tool.get("tiers", [])),
            block=(int(tool["block"][0]), float(tool["block"][1])) if "block" in tool else None,
        )
        for tool in data["tools"]
    ]
