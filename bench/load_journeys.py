"""The load bench with the built-in journeys and a campaign running (`bench/load.py
--with-journeys`): what is set up before the load, what happens after it, and what the
stack must then hold, counted from what the bench itself sent.

The expectations are the journeys' published rules (README, Built-in journeys) applied
to each customer's accepted events in the order they were posted (one worker posts all
of a customer's events). The held-out enrolments are the product's draw (a hash of the
enrolment), read back; everything else (who enters, which steps fall due in the
advanced days, who has an address) is the bench's own count. The wire is the sandbox:
every mail moto's SES received, read by its `X-Kizuna-Delivery` header.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

SKUS = 40
SOLD_OUT = "SKU-0"
"""Sold out before the load, back in stock after it: the back-in-stock journey's SKU."""
USAGE_DAYS = 3
"""Every SKU's usage days (replenishment falls due within the advance)."""
ADVANCE_DAYS = 9
"""How far the clock moves after the load: past every step due by day 7 of the step
mails, short of day 14 (the same as `post-purchase`'s mails of days 1, 3, 5 and 7)."""
STEP_MAIL_DAYS = (1, 3, 5, 7)
SEGMENT = "load-buyers"
CAMPAIGN = "load-news"
SCHEDULES = ["JourneyDispatcher", "RestockWaves"]


@dataclass(frozen=True)
class Accepted:
    """One event the stack accepted: `order` (key: order id), `view` or `cart` (key: SKU)."""

    kind: str
    key: str


@dataclass
class Journey:
    """One journey's figures: expected by the bench, and as the stack reports them."""

    entered_expected: int = 0
    entered: int = 0
    held_out: int = 0
    due: int = 0
    """Send steps due in the advanced days for the treated (not held out) enrolments."""
    no_address: int = 0
    """Of those, to people the shop has no mail address for (they only viewed or carted)."""
    skipped: int = 0
    """Sends the stack did not make (its step counters `skipped_*` and `status_*` but
    sent): the no-address ones, and any other reason."""
    sent_expected: int = 0
    sent: int = 0
    """Sent deliveries of the journey (`GET /v1/deliveries`)."""
    wire: int = 0
    """Mails at moto's SES carrying one of those deliveries' ids."""


@dataclass
class Observed:
    """What the stack holds after the load, read over its API and from the sandbox."""

    enrolments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deliveries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    campaign: dict[str, Any] = field(default_factory=dict)
    segment_members: set[str] = field(default_factory=set)
    wire: list[str] = field(default_factory=list)
    """The delivery id of every message at the fake providers (mail: its header)."""


def birthday_people(count: int) -> list[str]:
    return [f"bday-{i}" for i in range(count)]


def _ok(response: httpx.Response) -> Any:
    if not response.is_success:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json() if response.content else None


def prepare(http: httpx.Client, now: datetime, birthdays: int) -> None:
    """Before the load: every built-in journey on, a shipping notice, usage days per SKU,
    a SKU sold out, people with a birthday in two days (sign-ups who never buy), a segment
    of buyers (the campaign to it starts during the load). The frequency cap is raised
    so that the counts do not depend on the order the mails fall due in."""
    _ok(http.put("/v1/messenger/policy", json={"cap_count": 100}))
    notice = {
        "message_id": "shipping-notice",
        "name": "発送のお知らせ",
        "category": "transactional",
        "email": {"subject": "発送しました", "html": "<p>発送</p>", "text": "発送"},
    }
    _ok(http.post("/v1/messages", json=notice))
    news = {
        "message_id": CAMPAIGN,
        "name": "News",
        "email": {"subject": "新商品", "html": "<p>新商品</p>", "text": "新商品"},
    }
    _ok(http.post("/v1/messages", json=news))
    for builtin in _ok(http.get("/v1/journeys/builtins")):
        _ok(http.post(f"/v1/journeys/builtins/{builtin['name']}/enable"))
    for n in range(SKUS):
        _ok(http.put(f"/v1/journeys/products/SKU-{n}", json={"usage_days": USAGE_DAYS}))
    event = {"type": "inventory.changed", "event_id": "sold-out", "sku": SOLD_OUT, "quantity": 0}
    _ok(http.post("/v1/events", json=event))
    birthday = (now + timedelta(days=2)).date().replace(year=1990).isoformat()
    for cid in birthday_people(birthdays):
        person = {
            "customer_id": cid,
            "email": f"{cid}@example.jp",
            "consents": [{"channel": "email", "granted": True, "source": "signup-form"}],
        }
        upsert = {"type": "customer.upserted", "event_id": f"up-{cid}", "customer": person}
        upsert |= {"birthday": birthday, "timezone": "Asia/Tokyo"}
        _ok(http.post("/v1/events", json=upsert))
    rule = {"field": "order_count", "op": "gte", "value": 1}
    _ok(http.post("/v1/segments", json={"segment_id": SEGMENT, "name": "Buyers", "rule": rule}))


def start_campaign(http: httpx.Client) -> bool:
    """The campaign to the buyers' segment, now; False while the messenger knows no member
    yet (a 404 naming `segment_id`)."""
    campaign = {
        "campaign_id": CAMPAIGN,
        "name": "News",
        "segment_id": SEGMENT,
        "variants": [{"name": "a", "message_id": CAMPAIGN}],
        "wave_size": 100,
    }
    response = http.post("/v1/campaigns", json=campaign)
    if response.status_code == 404:
        return False
    _ok(response)
    return True


class Ticker:
    """The one-minute `journey-dispatcher` schedule, fired in real time during the load
    (`POST /_local/schedules/JourneyDispatcher`): campaign waves and due steps. Before
    each tick, until it is created, the campaign is started (`headers`: the shop's key)."""

    def __init__(self, api: str, every: float, headers: dict[str, str] | None) -> None:
        self.api = api
        self.every = every
        self.headers = headers
        self.fired = 0
        self.campaign_started: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with httpx.Client(base_url=self.api, timeout=600, headers=self.headers or {}) as http:
            while not self._stop.wait(self.every):
                waiting = self.headers is not None and self.campaign_started is None
                if waiting and start_campaign(http):
                    self.campaign_started = time.monotonic()
                _ok(http.post("/_local/schedules/JourneyDispatcher"))
                self.fired += 1

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def after_load(http: httpx.Client, orders: list[str], now: datetime) -> None:
    """The warehouse ships every accepted order; the sold-out SKU comes back."""
    for n, order_id in enumerate(orders):
        shipped = {"type": "order.shipped", "event_id": f"ship-{order_id}", "order_id": order_id}
        shipped |= {"at": now.isoformat(), "carrier": "yamato", "tracking_number": f"1-{n}"}
        _ok(http.post("/v1/events", json=shipped))
    back = {"type": "inventory.changed", "event_id": "back", "sku": SOLD_OUT, "quantity": 20}
    _ok(http.post("/v1/events", json=back))


def advance(http: httpx.Client) -> Any:
    body = {"advance": f"{ADVANCE_DAYS}d", "step": "1h", "schedules": SCHEDULES}
    return _ok(http.post("/_local/clock", json=body, timeout=3600))


def pages(http: httpx.Client, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        response = http.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        found += _ok(response)
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            return found


def delivery_id_of(message: dict[str, Any]) -> str:
    """The delivery a sandbox message carries: mail by its `X-Kizuna-Delivery` header."""
    if message["channel"] == "mail" and message.get("raw"):
        parsed = email.message_from_string(message["raw"], policy=email.policy.default)
        return str(parsed["X-Kizuna-Delivery"] or "")
    return f"{message['channel']}:{message['id']}"


def _members(http: httpx.Client) -> set[str]:
    found: set[str] = set()
    cursor: str | None = None
    while True:
        params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = _ok(http.get(f"/v1/segments/{SEGMENT}/members", params=params))
        found |= set(page["customer_ids"])
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def collect(http: httpx.Client, customers: list[str], sandbox: list[dict[str, Any]]) -> Observed:
    seen = Observed()
    for cid in customers:
        seen.enrolments[cid] = _ok(http.get("/v1/journeys/enrolments", params={"customer_id": cid}))
        seen.deliveries[cid] = pages(http, "/v1/deliveries", {"customer_id": cid})
    for builtin in _ok(http.get("/v1/journeys/builtins")):
        seen.stats[builtin["name"]] = _ok(http.get(f"/v1/journeys/{builtin['name']}/stats"))
    seen.campaign = _ok(http.get(f"/v1/campaigns/{CAMPAIGN}"))
    seen.segment_members = _members(http)
    seen.wire = [delivery_id_of(m) for m in sandbox]
    return seen


def _treated(enrolments: list[dict[str, Any]], journey: str) -> list[bool]:
    """Per enrolment in `journey`, oldest first: whether it was not held out."""
    mine = [e for e in enrolments if e["journey_id"] == journey]
    mine.sort(key=lambda e: str(e["entered_at"]))
    return [e["status"] != "holdout" for e in mine]


def expect(
    timelines: dict[str, list[Accepted]], birthdays: list[str], seen: Observed
) -> dict[str, Journey]:
    """Each built-in journey's entries and due sends, from the events the bench posted."""
    rows: dict[str, Journey] = defaultdict(Journey)

    def enter(journey: str, cid: str, sends: int, *, has_address: bool, nth: int = -1) -> None:
        """One expected enrolment of `cid` with `sends` steps due if treated; `nth`
        picks which of the person's enrolments (oldest first) the sends are for."""
        row = rows[journey]
        row.entered_expected += 1
        treated = _treated(seen.enrolments.get(cid, []), journey)
        if (nth == -1 or nth == len(treated) - 1) and treated and treated[nth]:
            row.due += sends
            row.sent_expected += sends if has_address else 0
            row.no_address += 0 if has_address else sends

    for cid, events in timelines.items():
        orders = [i for i, e in enumerate(events) if e.kind == "order"]
        buyer = bool(orders)
        if buyer:
            enter("welcome-first-purchase", cid, 1, has_address=True)
            enter(
                "post-purchase",
                cid,
                len(STEP_MAIL_DAYS) if len(orders) == 1 else 0,
                has_address=True,
            )
            for n in range(len(orders)):  # one per order; the last order's is the one left
                last = n == len(orders) - 1
                enter("replenishment", cid, 1 if last else 0, has_address=True, nth=n)
        carts = [i for i, e in enumerate(events) if e.kind == "cart"]
        if carts:
            bought_after = any(i > carts[0] for i in orders)
            enter("abandoned-cart", cid, 0 if bought_after else 2, has_address=buyer)
        views = [i for i, e in enumerate(events) if e.kind == "view"]
        if views:
            first = views[0]
            again = any(events[i].key == events[first].key for i in views[1:])
            bought_after = any(i > first for i in orders)
            due = 1 if again and not bought_after else 0
            enter("browse-abandonment", cid, due, has_address=buyer)
        if any(e.kind in ("view", "cart") and e.key == SOLD_OUT for e in events):
            enter("back-in-stock", cid, 1, has_address=buyer)
    for cid in birthdays:
        enter("birthday", cid, 1, has_address=True)
        enter("welcome-signup", cid, 2, has_address=True)
    rows["winback"].entered_expected += 0
    return dict(rows)


def _journey_rows(
    timelines: dict[str, list[Accepted]], birthdays: list[str], seen: Observed
) -> tuple[dict[str, Journey], dict[str, str]]:
    """The rows with the stack's side filled in, and the sent deliveries (id → trigger)."""
    rows = expect(timelines, birthdays, seen)
    for enrolments in seen.enrolments.values():
        for e in enrolments:
            row = rows.setdefault(e["journey_id"], Journey())
            row.entered += 1
            row.held_out += e["status"] == "holdout"
    sent = {
        d["delivery_id"]: d["trigger"]
        for deliveries in seen.deliveries.values()
        for d in deliveries
        if d["status"] == "sent"
    }
    wire = Counter(seen.wire)
    for delivery_id, trigger in sent.items():
        if trigger.startswith("journey:"):
            row = rows.setdefault(trigger.split(":")[1], Journey())
            row.sent += 1
            row.wire += wire[delivery_id] > 0
    for name, stats in seen.stats.items():
        steps = stats.get("steps", {}).values()
        skipped = sum(v for s in steps for k, v in s.items() if _not_sent(k))
        rows.setdefault(name, Journey()).skipped = skipped
    return rows, sent


SENT_STATUSES = ("status_sent", "status_deferred", "status_retry_scheduled")
"""A send step's outcomes the journey counts as sent (its `status_<outcome>` counters)."""


def _not_sent(counter: str) -> bool:
    """A step counter of a send that was not made: a slot left empty (`skipped_<why>`) or
    an outcome other than sent (`status_skipped`: no address, no consent, ...)."""
    return counter.startswith("skipped_") or (
        counter.startswith("status_") and counter not in SENT_STATUSES
    )


def _journey_problems(rows: dict[str, Journey]) -> list[str]:
    problems = []
    for name, row in sorted(rows.items()):
        if row.entered != row.entered_expected:
            problems.append(f"{name}: entered {row.entered}, expected {row.entered_expected}")
        if row.sent != row.sent_expected:
            problems.append(f"{name}: sent {row.sent}, expected {row.sent_expected}")
        if row.wire != row.sent:
            problems.append(f"{name}: {row.wire} of {row.sent} sent on the wire")
        if row.sent + row.skipped != row.due:
            problems.append(f"{name}: {row.due} due, {row.sent} sent + {row.skipped} skipped")
    return problems


def reconcile(
    timelines: dict[str, list[Accepted]],
    accepted: dict[str, str],
    birthdays: list[str],
    seen: Observed,
) -> tuple[dict[str, Journey], dict[str, int], list[str]]:
    """Per journey, the figures; the totals; and every way they do not reconcile."""
    rows, sent = _journey_rows(timelines, birthdays, seen)
    wire = Counter(seen.wire)
    buyers = set(accepted.values())
    by_trigger = Counter(sent.values())
    campaign = [t for t in sent.values() if t.startswith("campaign:")]
    campaign_people = {
        cid
        for cid, ds in seen.deliveries.items()
        for d in ds
        if d["status"] == "sent" and d["trigger"].startswith("campaign:")
    }
    totals = {
        "orders accepted": len(accepted),
        "buyers": len(buyers),
        "segment members (buyers)": len(seen.segment_members),
        "welcome mails (sent)": by_trigger["welcome"],
        "shipping notices (sent)": by_trigger["shipping_notice"],
        "campaign processed": int(seen.campaign.get("processed", 0)),
        "campaign skipped": sum(seen.campaign.get("skipped", {}).values()),
        "campaign sent": len(campaign),
        "journey sends expected": sum(r.sent_expected for r in rows.values()),
        "journey sends (sent)": sum(r.sent for r in rows.values()),
        "sent deliveries": len(sent),
        "messages on the wire": len(seen.wire),
        "duplicate deliveries on the wire": sum(n - 1 for n in wire.values() if n > 1),
    }
    problems = _journey_problems(rows)
    if seen.segment_members != buyers:
        problems.append(f"segment holds {len(seen.segment_members)}, {len(buyers)} buyers")
    if totals["welcome mails (sent)"] != len(buyers):
        problems.append(f"{by_trigger['welcome']} welcome mails for {len(buyers)} buyers")
    if totals["shipping notices (sent)"] != len(accepted):
        problems.append(f"{totals['shipping notices (sent)']} notices, {len(accepted)} orders")
    if not campaign_people <= buyers or len(campaign_people) != len(campaign):
        problems.append("a campaign mail went to someone twice or to someone not a buyer")
    if totals["campaign processed"] != totals["campaign sent"] + totals["campaign skipped"]:
        problems.append("the campaign's processed is not its sent plus its skips")
    if wire.keys() != sent.keys() or totals["duplicate deliveries on the wire"]:
        doubled = totals["duplicate deliveries on the wire"]
        problems.append(f"wire {len(wire)} distinct ({doubled} doubled), {len(sent)} sent")
    return rows, totals, problems
