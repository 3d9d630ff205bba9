"""Load on the local stack: `kizuna local up` in its own process, driven over loopback.

Workers post orders, product views and cart updates (`POST /v1/events`) at a steady
concurrency for a bounded time; then the stack is drained and everything is reconciled:

- accepted: orders answered 201 (or 200 as a duplicate);
- stored: orders the segmenter holds (`GET /v1/customers/{id}/orders`);
- published: welcome deliveries the messenger recorded for first-time buyers (it only
  knows of an order through the `order.placed` event);
- delivered: welcomes in the sandbox, each on the one channel the buyer has: every fifth
  customer has a LINE user id only, every fifth a phone number only, the rest a mail
  address (moto SES, the LINE sandbox, moto SNS).

Accepted must equal stored, every buyer must have exactly one welcome delivery, and every
buyer one welcome on the wire (a mail counted by its `X-Kizuna-Delivery` header, LINE
and SMS by their provider keys). It prints throughput, latency percentiles, errors and
the stack's peak memory (VmHWM of its process). Not part of `make test`: the clock
measures this machine, and a busy one (CI, other processes) lowers every figure; the
counts are what must hold.

    .venv/bin/python bench/load.py --seconds 120 --concurrency 4 --customers 300

`--with-journeys` (`bench/load_journeys.py`) first turns every built-in journey on (with
a shipping notice, usage days per SKU, a SKU sold out and sign-ups with a birthday), fires
the dispatcher's minute tick in real time during the load and starts a campaign to a
segment of buyers as soon as it has members; after the load every order ships, the SKU
comes back, and the clock moves 9 days (an hour at a time, the dispatcher and restock
waves firing, the nightly recompute once a day, and once more at the end). `--dormant N`
customers (30 unless told) have a year-old order history imported before the load, dated
back from the stack's clock (a third dormant already, a third turning dormant on the
advance's sixth day, a third not by its end): each dormant one must enter the win-back
once, on or after the day its last order turned 365 days old, and get its first mail.
Then each journey's entries and sends must be what the posted events call
for (sent, or waiting for a frequency-cap slot: the shop keeps the product's cap unless
`--cap` says otherwise), every sent delivery must be on the wire once, nobody may get
more cap-counted mails on the wire than the cap in its window, and the DynamoDB calls
moto served are printed per phase, by operation.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load_journeys  # noqa: E402
from bench.harness import drain, run_threads  # noqa: E402
from bench.load_journeys import SKUS, Accepted, Journey  # noqa: E402

from ops.local.process import LocalUpProcess, peak_rss_mib  # noqa: E402


def create_shop(stack: LocalUpProcess) -> str:
    done = stack.kizuna("shop", "create", "load", "--name", "Load")
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return done.stdout.strip().splitlines()[-1]


class Load:
    """Workers posting a storefront's events; each worker owns every `concurrency`-th
    customer, so one customer's events are posted one after another, in the order the
    journeys' expectations read them (`timelines`)."""

    def __init__(
        self,
        api: str,
        token: str,
        customers: int,
        seed: int,
        *,
        max_orders: int | None = None,
    ) -> None:
        self.api = api
        self.headers = {"Authorization": f"Bearer {token}"}
        self.customers = customers
        self.max_orders = max_orders
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {"order": [], "view": [], "cart": []}
        self.statuses: Counter[str] = Counter()
        self.accepted: dict[str, str] = {}  # order id -> customer id
        self.timelines: dict[str, list[Accepted]] = {}  # customer -> accepted, in order
        self.sequence = 0
        self.skew = timedelta(0)
        """The stack's clock less this process's: events are stamped on the stack's time."""
        self.workers = 0
        self._concurrency = 1

    def _next(self, worker: int, count: int) -> tuple[str, dict[str, Any]]:
        with self.lock:
            self.sequence += 1
            n = self.sequence
            kind = self.rnd.choices(("order", "view", "cart"), (6, 3, 1))[0]
            mine = range(worker, self.customers, count)
            customer = f"c-{mine[self.rnd.randrange(len(mine))]}"
            # One event in eight is about the SKU sold out during the load.
            sku = f"SKU-{0 if self.rnd.random() < 1 / 8 else self.rnd.randrange(1, SKUS)}"
        now = (datetime.now(UTC) + self.skew).isoformat()
        person = {"customer_id": customer, **load_journeys.contact_of(customer)}
        if kind == "order":
            body: dict[str, Any] = {
                "type": "order.placed",
                "event_id": f"o-{n}",
                "order_id": f"o-{n}",
                "placed_at": now,
                "currency": "JPY",
                "total": "3980",
                "items": [{"sku": sku, "quantity": 1, "unit_price": "3980", "category": "c"}],
                "customer": person,
            }
        elif kind == "view":
            body = {"type": "product.viewed", "event_id": f"v-{n}", "sku": sku}
            body |= {"viewed_at": now, "customer": {"customer_id": customer}}
        else:
            body = {"type": "cart.updated", "event_id": f"k-{n}", "updated_at": now}
            body |= {"customer": {"customer_id": customer}, "cart_id": f"cart-{customer}"}
            body |= {"items": [{"sku": sku, "quantity": 1, "unit_price": "3980"}]}
        return kind, body

    def _done(self, until: float) -> bool:
        if self.max_orders is not None:
            with self.lock:
                return len(self.accepted) >= self.max_orders
        return time.monotonic() >= until

    def worker(self, until: float) -> None:
        with self.lock:
            me = self.workers
            self.workers += 1
        count = max(1, min(self.customers, self._concurrency))
        with httpx.Client(base_url=self.api, headers=self.headers, timeout=60) as http:
            while me < count and not self._done(until):
                kind, body = self._next(me, count)
                started = time.perf_counter()
                try:
                    status = str(http.post("/v1/events", json=body).status_code)
                except httpx.HTTPError as err:
                    status = type(err).__name__
                elapsed = time.perf_counter() - started
                customer = body["customer"]["customer_id"]
                with self.lock:
                    self.latencies[kind].append(elapsed)
                    self.statuses[status] += 1
                    if status in ("200", "201"):
                        key = body.get("order_id") or body.get("sku")
                        key = key or body["items"][0]["sku"]
                        self.timelines.setdefault(customer, []).append(Accepted(kind, str(key)))
                        if kind == "order":
                            self.accepted[body["order_id"]] = customer

    def run(self, concurrency: int, until: float) -> float:
        self._concurrency = concurrency
        return run_threads(concurrency, self.worker, until)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return float(cuts[int(q) - 1]) * 1000


def reconcile(load: Load, sandbox: list[dict[str, Any]]) -> dict[str, int]:
    buyers = set(load.accepted.values())
    stored = 0
    welcome: list[dict[str, Any]] = []  # the welcome deliveries
    with httpx.Client(base_url=load.api, headers=load.headers, timeout=60) as http:
        for customer in sorted(buyers):
            orders = http.get(f"/v1/customers/{customer}/orders").json()
            stored += sum(1 for o in orders if o["order_id"] in load.accepted)
            deliveries = load_journeys.pages(http, "/v1/deliveries", {"customer_id": customer})
            welcome += [d for d in deliveries if d.get("trigger") == "welcome"]
    wire = load_journeys.Observed()
    load_journeys.read_wire(wire, sandbox, [d for d in welcome if d["status"] == "sent"])
    ids = {d["delivery_id"] for d in welcome}
    welcomes = sum(1 for m in wire.wire if m in ids)
    return {
        "accepted": len(load.accepted),
        "stored": stored,
        "buyers": len(buyers),
        "published (welcome deliveries)": len(ids),
        "buyers with a mail address": sum(
            1 for b in buyers if load_journeys.channel_of(b) == "email"
        ),
        "delivered (welcomes on the wire)": welcomes,
    }


def _admin(api: str, headers: dict[str, str]) -> httpx.Client:
    """The bench's own client to the shop, after turning quiet hours off for LINE and SMS
    (the bench may run at night in Japan): every message goes when it falls due, and
    every deferral is the frequency cap's."""
    admin = httpx.Client(base_url=api, headers=headers, timeout=120)
    admin.put("/v1/messenger/policy", json={"quiet_channels": []}).raise_for_status()
    return admin


def _requests(api: str) -> Counter[str]:
    """DynamoDB calls the stack's moto has served so far, by operation."""
    return Counter(httpx.get(f"{api}/_local/requests", timeout=60).json())


@dataclass
class Run:
    """One run's figures: the load's, the plain reconciliation's, and with journeys the
    per-journey rows, the totals, what did not reconcile and the DynamoDB calls per phase."""

    load: Load
    elapsed: float
    drained: bool
    drain_seconds: float
    counts: dict[str, int]
    peak: float
    journeys: dict[str, Journey] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    phases: dict[str, Counter[str]] = field(default_factory=dict)
    ticks: int = 0
    campaign_during_load: int = 0
    """Campaign recipients handed to the send path by the ticks during the load."""
    advance_seconds: float = 0.0

    @property
    def holds(self) -> bool:
        c = self.counts
        plain = (
            c["accepted"] == c["stored"]
            and c["buyers"] == c["published (welcome deliveries)"]
            and c["buyers"] == c["delivered (welcomes on the wire)"]
        )
        return plain and self.drained and not self.problems


def _ship_and_advance(admin: httpx.Client, api: str, result: Run, started: bool) -> None:
    """After the load, with journeys: every order ships, the SKU comes back, the campaign
    starts if the load did not see it start (`started`), the clock moves (the nightly
    recompute daily on the way, and once more at its end), the queues drain."""
    load = result.load
    load_journeys.after_load(admin, sorted(load.accepted), datetime.now(UTC) + load.skew)
    if not started and not load_journeys.start_campaign(admin):
        raise SystemExit("no buyer reached the campaign's segment")
    admin.post("/_local/schedules/JourneyDispatcher").raise_for_status()
    drain(api, timeout=900)
    began = time.perf_counter()
    load_journeys.advance(admin)
    ok, _ = drain(api, timeout=900)
    load_journeys.rerun_nightly(admin)
    again, _ = drain(api, timeout=900)
    result.drained = result.drained and ok and again
    result.advance_seconds = time.perf_counter() - began


def run(
    *,
    seconds: float,
    concurrency: int,
    customers: int,
    seed: int,
    with_journeys: bool,
    max_orders: int | None = None,
    birthdays: int = 10,
    tick_seconds: float = 60,
    cap: int | None = None,
    dormant: int = 0,
) -> Run:
    """Start a stack, load it, drain it (with journeys: ship, restock, advance the clock)
    and reconcile; the stack is stopped before this returns."""
    with tempfile.TemporaryDirectory(prefix="kizuna-load-") as folder:
        state = Path(folder) / "state"
        state.mkdir()
        stack = LocalUpProcess(state, ROOT).start()
        api = stack.api
        try:
            load = Load(api, create_shop(stack), customers, seed, max_orders=max_orders)
            phases: dict[str, Counter[str]] = {}
            admin = _admin(api, load.headers)
            load.skew = load_journeys.stack_now(admin) - datetime.now(UTC)
            history = load_journeys.Dormant.of(dormant, datetime.now(UTC) + load.skew)
            if with_journeys and dormant:
                load_journeys.seed_dormant(admin, "load", history)
            if with_journeys:
                load_journeys.prepare(admin, datetime.now(UTC) + load.skew, birthdays, cap)
                drain(api, timeout=900)
            before = _requests(api)
            until = time.monotonic() + seconds
            every, headers = (tick_seconds, load.headers) if with_journeys else (1e9, None)
            with load_journeys.Ticker(api, every, headers) as ticker:
                elapsed = load.run(concurrency, until)
            drained, drain_seconds = drain(api, timeout=900)
            after_load = _requests(api)
            phases["load and drain"] = after_load - before
            result = Run(load, elapsed, drained, drain_seconds, {}, 0.0, phases=phases)
            result.ticks = ticker.fired
            if with_journeys and ticker.campaign_started is not None:
                campaign = admin.get(f"/v1/campaigns/{load_journeys.CAMPAIGN}").json()
                result.campaign_during_load = int(campaign["processed"])
            if with_journeys:
                _ship_and_advance(admin, api, result, ticker.campaign_started is not None)
                phases["ship, restock, advance"] = _requests(api) - after_load
            sandbox = httpx.get(f"{api}/_local/sandbox", timeout=300).json()
            result.counts = reconcile(load, sandbox)
            if with_journeys:
                signups = load_journeys.birthday_people(birthdays)
                people = sorted(load.timelines) + signups + list(history.people)
                seen = load_journeys.collect(admin, people, sandbox)
                rows, totals, problems = load_journeys.reconcile(
                    load.timelines, load.accepted, signups, seen, history
                )
                result.journeys, result.totals, result.problems = rows, totals, problems
            result.peak = peak_rss_mib(stack.pid)
        finally:
            stack.stop()
    return result


def report(args: argparse.Namespace, r: Run) -> None:
    load = r.load
    requests = sum(len(v) for v in load.latencies.values())
    everything = [x for v in load.latencies.values() for x in v]
    print(f"load: {args.seconds:.0f} s, {args.concurrency} workers, {args.customers} customers")
    orders = len(load.latencies["order"])
    print(
        f"requests: {requests} ({requests / r.elapsed:.1f}/s), orders {orders}"
        f" ({orders / r.elapsed:.1f}/s)"
    )
    print(
        f"latency ms: p50 {percentile(everything, 50):.0f}  p95 {percentile(everything, 95):.0f}"
        f"  p99 {percentile(everything, 99):.0f}"
    )
    print(f"statuses: {dict(load.statuses)}")
    print(f"drained: {r.drained} in {r.drain_seconds:.1f} s after the load")
    for name, value in r.counts.items():
        print(f"{name}: {value}")
    if r.journeys:
        print(f"dispatcher ticks during the load: {r.ticks}")
        print(f"campaign recipients processed during the load: {r.campaign_during_load}")
        print(
            f"clock advanced {load_journeys.ADVANCE_DAYS} days in {r.advance_seconds:.0f} s"
            " (the nightly recompute once a day, then once more at the end)"
        )
        head = (
            "journey",
            "entered exp",
            "entered",
            "held out",
            "due",
            "no address",
            "skipped",
            "sent exp",
            "deferred",
            "capped",
            "sent",
            "on wire",
        )
        print(" | ".join(head))
        for name, j in sorted(r.journeys.items()):
            cells = (
                j.entered_expected,
                j.entered,
                j.held_out,
                j.due,
                j.no_address,
                j.skipped,
                j.sent_expected,
                j.deferred,
                j.capped,
                j.sent,
                j.wire,
            )
            print(" | ".join([name, *map(str, cells)]))
        for name, value in r.totals.items():
            print(f"{name}: {value}")
        for problem in r.problems:
            print(f"DOES NOT RECONCILE: {problem}")
    for phase, calls in r.phases.items():
        total = sum(calls.values())
        shown = ", ".join(f"{op} {n}" for op, n in calls.most_common())
        print(f"DynamoDB calls, {phase}: {total}: {shown}")
    load_calls = sum(r.phases["load and drain"].values())
    print(
        f"DynamoDB calls per accepted request, load and drain: {load_calls / max(1, requests):.1f}"
    )
    print(f"reconciles: {r.holds}")
    print(f"stack peak memory: {r.peak:.0f} MiB")
    print(
        "The clock leaves out: the stack's start and the shop's creation; the figures are "
        "this machine's, under whatever else it runs."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--orders", type=int, default=None, help="stop after this many orders")
    parser.add_argument(
        "--with-journeys",
        action="store_true",
        help="every built-in journey on and a campaign sending during the load; then ship, "
        "restock, advance the clock and reconcile every journey",
    )
    parser.add_argument(
        "--tick-seconds",
        type=float,
        default=15,
        help="the dispatcher's tick during the load (a minute in the cloud; more often here "
        "so that a short load sees several)",
    )
    parser.add_argument(
        "--cap",
        type=int,
        default=None,
        help="with journeys: a frequency cap other than the product's default (3 in 7 days)",
    )
    parser.add_argument(
        "--dormant",
        type=int,
        default=30,
        help="with journeys: customers whose order history is imported, a third dormant "
        "already, a third turning dormant during the advance, a third not (the win-back)",
    )
    args = parser.parse_args()
    result = run(
        seconds=args.seconds,
        concurrency=args.concurrency,
        customers=args.customers,
        seed=args.seed,
        with_journeys=args.with_journeys,
        max_orders=args.orders,
        tick_seconds=args.tick_seconds,
        cap=args.cap,
        dormant=args.dormant,
    )
    report(args, result)
    sys.exit(0 if result.holds else 1)


if __name__ == "__main__":
    main()
