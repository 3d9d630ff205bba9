"""The load bench with the built-in journeys and a campaign running (`bench/load.py
--with-journeys`): what is set up before the load, what happens after it, and what the
stack must then hold, counted from what the bench itself sent.

The expectations are the journeys' published rules (README, Built-in journeys) applied
to each customer's accepted events in the order they were posted (one worker posts all
of a customer's events). The held-out enrolments are the product's draw (a hash of the
enrolment), read back; everything else (who enters, which steps fall due in the
advanced days, who has an address) is the bench's own count. The wire is the sandbox:
every mail moto's SES received (by its `X-Kizuna-Delivery` header and its `Date`), every
SMS moto's SNS published and every push in the LINE outbox (by their provider ids, one
per user of a multicast); a fifth of the customers are on LINE only, a fifth on SMS only.

The shop keeps the product's frequency cap (3 marketing messages in 7 days, the
post-purchase step mails exempt), so which send waits for a slot depends on the order
the mails fall due in: the bench counts how many did (`capped`, the deliveries the
stack deferred or dropped for the cap) and checks them twice: sent + capped + not sent
= due per journey, and on the wire no person's cap-counted messages exceed the policy's
count in any window of its length (counted from the wire's dates and the bench's own
reading of each journey's topic, not from the stack's cap state).
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

BUILTINS = Path(__file__).resolve().parent.parent / "services/messenger/builtin_journeys"

JST = ZoneInfo("Asia/Tokyo")
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
"""Recent buyers (an order in the last 30 days): the load's buyers, not the win-back's
people, whose orders are a year old."""
CAMPAIGN = "load-news"
SCHEDULES = ["JourneyDispatcher", "RestockWaves", "NightlyRecompute"]
"""What the advance fires: the dispatcher and the restock waves every hour, the nightly
recompute at its hour each day (whose entries into 休眠 enrol the win-back)."""
DORMANT_DAYS = 365
"""The built-in `dormant` segment (README: no order for 365 days), the win-back's trigger."""
WINBACK_HISTORIES = ((700, 400), (360,), (300,))
"""The win-back people's imported orders, in days before the stack's clock at seeding, by
person (the i-th, `w-<WINBACK_BASE + i>`, by i % 3): dormant already at the advance's
first nightly; dormant on its sixth day (360 + 9 > 365, entered by a later nightly); not
dormant by its end (300 + 9)."""
WINBACK_BASE = 100_000
"""The win-back people's numbers start here, so their LINE ids and phone numbers (made
from the number) are none of the load customers'."""


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
    """Sends due to people with an address: sent now, or waiting for a cap slot."""
    deferred: int = 0
    """Sends the product deferred when they fell due (its step counters `status_deferred`:
    here always for a frequency-cap slot, since quiet hours hold LINE and SMS only): sent
    when a slot came free, or counted in `capped`."""
    capped: int = 0
    """Deliveries the stack deferred for a frequency-cap slot (still waiting when the
    bench reads them) or dropped after waiting past the message's validity."""
    sent: int = 0
    """Sent deliveries of the journey (`GET /v1/deliveries`)."""
    wire: int = 0
    """Mails at moto's SES carrying one of those deliveries' ids."""


DEFAULT_POLICY: dict[str, Any] = {
    "cap_count": 3,
    "cap_window_days": 7,
    "cap_exempt_topics": ["step_mails"],
}
"""The product's default frequency cap (what a hand-made state holds)."""


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
    wire_at: dict[str, datetime] = field(default_factory=dict)
    """When each message on the wire was sent, by delivery id: a mail's `Date` header (the
    stack's clock); SMS and LINE carry no date in the sandbox, so their delivery's
    `sent_at`."""
    wire_channels: Counter[str] = field(default_factory=Counter)
    """Messages on the wire per channel (a LINE multicast: one per user)."""
    policy: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_POLICY))
    """The shop's messaging policy (`GET /v1/messenger/policy`): the cap it holds."""


LINE_SHARE = 5
"""Every fifth customer (`c-1`, `c-6`, ...) is known by a LINE user id only, a friend of
the shop's account with LINE consent; every fifth (`c-2`, `c-7`, ...) by a phone number
only, with SMS consent; the rest by a mail address."""


def line_user_id(customer: str) -> str:
    """A LINE user id as LINE issues them: U and 32 hex digits."""
    return "U" + f"{int(customer.split('-')[1]):032x}"


def channel_of(customer: str) -> str:
    """The one channel the bench gives `customer` an address on: email, line or sms.
    (The first order's welcome goes on it, like every message.)"""
    n = int(customer.split("-")[1]) % LINE_SHARE if customer.startswith("c-") else 0
    return {1: "line", 2: "sms"}.get(n, "email")


def contact_of(customer: str) -> dict[str, Any]:
    """The customer's address and consent fields, as an order's `customer` carries them."""
    channel = channel_of(customer)
    n = int(customer.split("-")[1])
    address = {
        "email": {"email": f"{customer}@example.jp"},
        "line": {"line_user_id": line_user_id(customer)},
        "sms": {"phone": f"090-1{n // 10000 % 1000:03d}-{n % 10000:04d}"},
    }[channel]
    consent = {"channel": channel, "granted": True, "source": "checkout"}
    return {**address, "consents": [consent]}


def birthday_people(count: int) -> list[str]:
    return [f"bday-{i}" for i in range(count)]


@dataclass(frozen=True)
class Dormant:
    """The win-back's people: customers whose order history is imported (historical
    orders publish only `order.imported`, which the messenger keeps as the person's past
    and which sends, ends and converts nothing, as for a shop's migrated history) dated
    back from the stack's clock at seeding (`at`), a third of them on LINE and SMS like
    the load's customers.
    Who must enter the win-back is the bench's own reading of `DORMANT_DAYS`."""

    people: tuple[str, ...] = ()
    at: datetime | None = None

    @classmethod
    def of(cls, count: int, at: datetime) -> Dormant:
        return cls(tuple(f"w-{WINBACK_BASE + i}" for i in range(count)), at)

    @staticmethod
    def history(customer: str) -> tuple[int, ...]:
        """Days before `at` of each of the person's orders."""
        n = int(customer.split("-")[1]) - WINBACK_BASE
        return WINBACK_HISTORIES[n % len(WINBACK_HISTORIES)]

    def expected(self) -> list[str]:
        """Who is dormant by the end of the advance: each must be enrolled once."""
        return [c for c in self.people if min(self.history(c)) + ADVANCE_DAYS > DORMANT_DAYS]

    def dormant_from(self, customer: str) -> datetime:
        """When the person's last order turns `DORMANT_DAYS` old."""
        assert self.at is not None
        return self.at + timedelta(days=DORMANT_DAYS - min(self.history(customer)))

    def orders_csv(self) -> str:
        """The people's order history in the generic import format."""
        assert self.at is not None
        out = io.StringIO()
        columns = ["order_id", "customer_id", "placed_at", "currency", "total", "sku"]
        columns += ["category", "quantity", "unit_price", "status", "delivered_at"]
        writer = csv.writer(out)
        writer.writerow(columns)
        for cid in self.people:
            n = int(cid.split("-")[1])
            for k, days in enumerate(self.history(cid)):
                placed = self.at - timedelta(days=days)
                delivered = placed + timedelta(days=2)
                sku = f"SKU-{1 + n % (SKUS - 1)}"
                order = [f"h-{n}-{k}", cid, placed.isoformat(), "JPY", "3980", sku]
                writer.writerow([*order, "c", "1", "3980", "delivered", delivered.isoformat()])
        return out.getvalue()


def seed_dormant(http: httpx.Client, shop: str, dormant: Dormant) -> dict[str, Any]:
    """Before the journeys are on: each person's address and consent (`customer.upserted`,
    as a storefront's customer sync sends them: the messenger learns the address), then
    their history imported (`POST /_local/import/orders`, what `kizuna import orders
    --local` streams). The history publishes only `order.imported` (their first product,
    for the win-back's first mail) and changes no segment until the nightly, so nobody
    is dormant before the advance: the win-back is entered there.
    Returns the import's summary."""
    for cid in dormant.people:
        person = {"customer_id": cid, **contact_of(cid)}
        upsert = {"type": "customer.upserted", "event_id": f"up-{cid}", "customer": person}
        _ok(http.post("/v1/events", json=upsert))
    params = {"shop": shop, "format": "generic"}
    done = http.post("/_local/import/orders", params=params, content=dormant.orders_csv())
    if not done.is_success:
        raise SystemExit(f"import: {done.text}")
    last = json.loads(done.text.strip().splitlines()[-1])
    if "summary" not in last:
        raise SystemExit(f"import: {last}")
    summary: dict[str, Any] = last["summary"]
    expected = sum(len(dormant.history(c)) for c in dormant.people)
    if summary.get("orders_imported") != expected:
        raise SystemExit(f"import: {expected} orders, summary {summary}")
    return summary


def _ok(response: httpx.Response) -> Any:
    if not response.is_success:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json() if response.content else None


def prepare(http: httpx.Client, now: datetime, birthdays: int, cap: int | None = None) -> None:
    """Before the load: every built-in journey on, a shipping notice, usage days per SKU,
    a SKU sold out, people with a birthday in two days (sign-ups who never buy), a segment
    of buyers (the campaign to it starts during the load). `cap`: a frequency cap other
    than the product's default (3 in 7 days)."""
    if cap is not None:
        _ok(http.put("/v1/messenger/policy", json={"cap_count": cap}))
    notice = {
        "message_id": "shipping-notice",
        "name": "発送のお知らせ",
        "category": "transactional",
        "email": {"subject": "発送しました", "html": "<p>発送</p>", "text": "発送"},
        "line": {"text": "発送しました"},
        "sms": {"text": "発送しました"},
    }
    _ok(http.post("/v1/messages", json=notice))
    news = {
        "message_id": CAMPAIGN,
        "name": "News",
        "email": {"subject": "新商品", "html": "<p>新商品</p>", "text": "新商品"},
        "line": {"text": "新商品のお知らせ"},
        "sms": {"text": "新商品のお知らせ"},
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
    rule = {
        "all": [
            {"field": "order_count", "op": "gte", "value": 1},
            {"field": "last_order_at", "op": "within_last_days", "value": 30},
        ]
    }
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


def stack_now(http: httpx.Client) -> datetime:
    """The stack's clock, which runs in its own process (a test that moves its own clock
    does not move the stack's): a one-minute move that fires no schedule answers it."""
    moved = _ok(http.post("/_local/clock", json={"advance": "1m", "schedules": []}))
    return datetime.fromisoformat(str(moved["now"]))


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


def rerun_nightly(http: httpx.Client) -> None:
    """The nightly recompute once more at the advance's end (a rerun, as after a retried
    night), then the dispatcher's tick: nobody may enter the win-back a second time."""
    _ok(http.post("/_local/schedules/NightlyRecompute", timeout=3600))
    _ok(http.post("/_local/drain", timeout=900))
    _ok(http.post("/_local/schedules/JourneyDispatcher", timeout=900))


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
    return wire_entry(message)[0]


def wire_entry(message: dict[str, Any]) -> tuple[str, datetime | None]:
    """A sandbox message's delivery id and when it was sent (mail: its `Date` header);
    SMS and LINE by their provider keys (`wire_keys`)."""
    if message["channel"] == "mail" and message.get("raw"):
        parsed = email.message_from_string(message["raw"], policy=email.policy.default)
        date = parsed["Date"]
        return str(parsed["X-Kizuna-Delivery"] or ""), parsedate_to_datetime(str(date))
    return wire_keys(message)[0], None


def wire_keys(message: dict[str, Any]) -> list[str]:
    """One key per person a sandbox SMS or LINE request reached: SMS by the id SNS gave it
    (`sms:<MessageId>`); LINE by its `X-Line-Retry-Key` and user id (`line:<key>:<user>`),
    one per user of a multicast, which carries many people's deliveries in one request."""
    if message["channel"] == "line":
        raw = message.get("raw") or {}
        to = raw.get("request", {}).get("to", message["to"])
        users = [to] if isinstance(to, str) else list(to)
        return [f"line:sandbox-{raw.get('retry_key')}:{user}" for user in users]
    return [f"{message['channel']}:{message['id']}"]


def provider_key(delivery: dict[str, Any]) -> str | None:
    """The `wire_keys` key a sent SMS or LINE delivery must have in the sandbox."""
    channel, provider_id = delivery.get("channel"), delivery.get("provider_message_id")
    cid = str(delivery.get("customer_id", ""))
    if channel == "line":
        return f"line:{provider_id}:{line_user_id(cid)}"
    return f"sms:{provider_id}" if channel == "sms" else None


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
    seen.policy = _ok(http.get("/v1/messenger/policy"))
    sent = [d for ds in seen.deliveries.values() for d in ds if d["status"] == "sent"]
    read_wire(seen, sandbox, sent)
    return seen


def read_wire(seen: Observed, sandbox: list[dict[str, Any]], sent: list[dict[str, Any]]) -> None:
    """The delivery id of every message on the wire into `seen.wire` (with when it went
    and its channel): mail by its header; SMS and LINE by matching their provider keys
    with the sent deliveries' (one that matches none keeps its key, so it shows as a
    message no delivery was sent for)."""
    keyed = {}
    for d in sent:
        key = provider_key(d)
        if key is not None:
            keyed[key] = d
    for message in sandbox:
        seen.wire_channels[message["channel"]] += len(wire_keys(message))
        if message["channel"] != "mail":
            for key in wire_keys(message):
                found = keyed.get(key)
                seen.wire.append(found["delivery_id"] if found else key)
                if found and found.get("sent_at"):
                    seen.wire_at[found["delivery_id"]] = datetime.fromisoformat(found["sent_at"])
            continue
        delivery_id, at = wire_entry(message)
        seen.wire.append(delivery_id)
        if at is not None:
            seen.wire_at[delivery_id] = at


def _treated(enrolments: list[dict[str, Any]], journey: str) -> list[bool]:
    """Per enrolment in `journey`, oldest first: whether it was not held out."""
    mine = [e for e in enrolments if e["journey_id"] == journey]
    mine.sort(key=lambda e: str(e["entered_at"]))
    return [e["status"] != "holdout" for e in mine]


def expect(
    timelines: dict[str, list[Accepted]],
    birthdays: list[str],
    seen: Observed,
    dormant: Dormant = Dormant(),
) -> dict[str, Journey]:
    """Each built-in journey's entries and due sends, from the events the bench posted
    and the history it imported (the win-back's first mail; its second is 14 days on,
    past the advance)."""
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
    for cid in dormant.expected():
        enter("winback", cid, 1, has_address=True)
    return dict(rows)


def _journey_rows(
    timelines: dict[str, list[Accepted]], birthdays: list[str], seen: Observed, dormant: Dormant
) -> tuple[dict[str, Journey], dict[str, str]]:
    """The rows with the stack's side filled in, and the sent deliveries (id → trigger)."""
    rows = expect(timelines, birthdays, seen, dormant)
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
    for deliveries in seen.deliveries.values():
        for d in deliveries:
            if d["trigger"].startswith("journey:") and capped(d):
                rows.setdefault(d["trigger"].split(":")[1], Journey()).capped += 1
    for name, stats in seen.stats.items():
        steps = stats.get("steps", {}).values()
        skipped = sum(v for s in steps for k, v in s.items() if _not_sent(k))
        row = rows.setdefault(name, Journey())
        row.skipped = skipped
        row.deferred = sum(int(s.get("status_deferred", 0)) for s in steps)
    return rows, sent


def capped(delivery: dict[str, Any]) -> bool:
    """A delivery waiting for a frequency-cap slot, or dropped after waiting for one past
    its validity (`expired:frequency_cap`, or `expired` when the wait ran out later)."""
    reason = str(delivery.get("skip_reason") or "")
    waiting = delivery["status"] == "deferred" and reason == "frequency_cap"
    dropped = delivery["status"] == "dropped" and reason in ("expired", "expired:frequency_cap")
    return waiting or dropped


def journey_topics() -> dict[str, str]:
    """Each built-in journey's unsubscribe topic, read from its definition file (the
    bench's own reading of which mails the cap counts)."""
    found = {}
    for path in sorted(BUILTINS.glob("*.json")):
        found[path.stem] = str(json.loads(path.read_text(encoding="utf-8"))["journey"]["topic"])
    return found


def over_the_cap(seen: Observed) -> tuple[int, list[str]]:
    """People who got more cap-counted messages on the wire than the policy's count within
    one window of its length: marketing deliveries whose topic the policy does not exempt
    (a journey's topic from its definition, the campaign's its own), timed by the wire's
    own `Date` (SMS and LINE: their delivery's `sent_at`, the sandbox keeps no time).
    Also: how many cap-counted messages the wire holds."""
    topics = journey_topics()
    exempt = set(seen.policy["cap_exempt_topics"])
    count = int(seen.policy["cap_count"])
    window = timedelta(days=float(seen.policy["cap_window_days"]))
    found = []
    counted = 0
    for cid, deliveries in sorted(seen.deliveries.items()):
        times = []
        for d in deliveries:
            trigger = str(d["trigger"])
            topic = topics.get(trigger.split(":")[1], "") if trigger.startswith("journey:") else ""
            topic = str(seen.campaign.get("topic")) if trigger.startswith("campaign:") else topic
            at = seen.wire_at.get(d["delivery_id"])
            if d.get("category") == "marketing" and topic not in exempt and at is not None:
                times.append(at)
        times.sort()
        counted += len(times)
        crowded = [b - a for a, b in zip(times, times[count:], strict=False) if b - a < window]
        if crowded:
            found.append(
                f"{cid}: {count + 1} cap-counted messages on the wire within {min(crowded)}"
            )
    return counted, found


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
        if row.sent + row.capped != row.sent_expected:
            problems.append(
                f"{name}: sent {row.sent} + capped {row.capped}, expected {row.sent_expected}"
            )
        if row.wire != row.sent:
            problems.append(f"{name}: {row.wire} of {row.sent} sent on the wire")
        if row.capped > row.deferred:
            problems.append(f"{name}: {row.capped} capped, {row.deferred} ever deferred")
        if row.sent + row.capped + row.skipped != row.due:
            problems.append(
                f"{name}: {row.due} due, {row.sent} sent + {row.capped} capped"
                f" + {row.skipped} skipped"
            )
    return problems


def _aware(at: str) -> datetime:
    moment = datetime.fromisoformat(at)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def winback_problems(dormant: Dormant, seen: Observed) -> tuple[dict[str, int], list[str]]:
    """Each dormant person in the win-back once, nobody else in it, and nobody before their
    last order turned `DORMANT_DAYS` old (the day the nightly on the stack's clock saw it)."""
    entries = {
        cid: [e for e in enrolments if e["journey_id"] == "winback"]
        for cid, enrolments in seen.enrolments.items()
    }
    expected = set(dormant.expected())
    problems = []
    for cid, mine in sorted(entries.items()):
        if len(mine) > 1:
            problems.append(f"winback: {cid} entered {len(mine)} times")
        if mine and cid not in expected:
            problems.append(f"winback: {cid} entered, not dormant")
        early = [
            e
            for e in mine
            if cid in expected and _aware(e["entered_at"]) < _start(dormant.dormant_from(cid))
        ]
        if early:
            problems.append(f"winback: {cid} entered before its last order was a year old")
    missing = sorted(c for c in expected if not entries.get(c))
    if missing:
        problems.append(f"winback: {len(missing)} dormant never entered ({missing[0]}, ...)")
    late = [c for c in expected if min(dormant.history(c)) < DORMANT_DAYS]
    totals = {
        "win-back people (imported history)": len(dormant.people),
        "win-back: dormant by the end": len(expected),
        "win-back: of them, turned dormant during the advance": len(late),
        "win-back enrolments": sum(len(m) for m in entries.values()),
    }
    return totals, problems


def _start(moment: datetime) -> datetime:
    """The start of `moment`'s day in Japan (a segment's day is the shop's local date)."""
    local = moment.astimezone(JST)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def reconcile(
    timelines: dict[str, list[Accepted]],
    accepted: dict[str, str],
    birthdays: list[str],
    seen: Observed,
    dormant: Dormant = Dormant(),
) -> tuple[dict[str, Journey], dict[str, int], list[str]]:
    """Per journey, the figures; the totals; and every way they do not reconcile."""
    rows, sent = _journey_rows(timelines, birthdays, seen, dormant)
    wire = Counter(seen.wire)
    buyers = set(accepted.values())
    by_trigger = Counter(sent.values())
    campaign = [t for t in sent.values() if t.startswith("campaign:")]
    everyone = [d for ds in seen.deliveries.values() for d in ds]
    campaign_capped = sum(1 for d in everyone if d["trigger"].startswith("campaign:") and capped(d))
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
        "welcomes (sent)": by_trigger["welcome"],
        "shipping notices (sent)": by_trigger["shipping_notice"],
        "campaign processed": int(seen.campaign.get("processed", 0)),
        "campaign skipped": sum(
            n for why, n in seen.campaign.get("skipped", {}).items() if why != "deferred"
        ),
        "campaign sent": len(campaign),
        "campaign capped": campaign_capped,
        "journey sends expected": sum(r.sent_expected for r in rows.values()),
        "journey sends (sent)": sum(r.sent for r in rows.values()),
        "journey sends deferred for the cap": sum(r.deferred for r in rows.values()),
        "journey sends capped (still waiting or dropped)": sum(r.capped for r in rows.values()),
        "sent deliveries": len(sent),
        "messages on the wire": len(seen.wire),
        **{f"on the wire by {c}": seen.wire_channels[c] for c in ("mail", "line", "sms")},
        "duplicate deliveries on the wire": sum(n - 1 for n in wire.values() if n > 1),
    }
    problems = _journey_problems(rows)
    if dormant.people:
        winback, wrong = winback_problems(dormant, seen)
        totals |= winback
        problems += wrong
    if seen.segment_members != buyers:
        problems.append(f"segment holds {len(seen.segment_members)}, {len(buyers)} buyers")
    mailable = {cid for cid in buyers if channel_of(cid) == "email"}
    totals["buyers with a mail address"] = len(mailable)
    if totals["welcomes (sent)"] != len(buyers):
        problems.append(f"{by_trigger['welcome']} welcomes for {len(buyers)} buyers")
    if totals["shipping notices (sent)"] != len(accepted):
        problems.append(f"{totals['shipping notices (sent)']} notices, {len(accepted)} orders")
    if not campaign_people <= buyers or len(campaign_people) != len(campaign):
        problems.append("a campaign mail went to someone twice or to someone not a buyer")
    made = totals["campaign sent"] + totals["campaign capped"] + totals["campaign skipped"]
    if totals["campaign processed"] != made:
        problems.append("the campaign's processed is not its sent plus its capped and skips")
    totals["cap-counted messages on the wire"], crowded = over_the_cap(seen)
    problems += crowded
    if wire.keys() != sent.keys() or totals["duplicate deliveries on the wire"]:
        doubled = totals["duplicate deliveries on the wire"]
        problems.append(f"wire {len(wire)} distinct ({doubled} doubled), {len(sent)} sent")
    return rows, totals, problems
