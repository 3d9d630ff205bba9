"""The customer profile and the events that shape it. Pure domain: no AWS, no HTTP.

A profile is recomputed from its previous state and one event, so the segmenter keeps
it current on every event with one read and one write. Order statistics are a fold over
the customer's active orders: a cancellation or return re-folds without that order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.segment_rules.facts import ACTIVITY_HISTORY_DAYS, ACTIVITY_HISTORY_LIMITS

Channel = str  # "email" | "line" | "sms"
ConsentCategory = str  # "marketing" | "transactional"
DEFAULT_TIMEZONE = "Asia/Tokyo"
DEFAULT_LOCALE = "ja"
SHOP_TIMEZONE = ZoneInfo(DEFAULT_TIMEZONE)
DEFAULT_HISTORY_DAYS = 400
DEFAULT_HISTORY_LIMIT = 200
"""Kept for an activity kind the segment engine does not know (none today)."""


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: Decimal
    category: str | None = None
    list_price: Decimal | None = None
    unit_cost: Decimal | None = None
    tags: tuple[str, ...] = ()

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def on_sale(self) -> bool:
        return self.list_price is not None and self.unit_price < self.list_price


@dataclass(frozen=True)
class Order:
    order_id: str
    customer_id: str
    placed_at: datetime
    currency: str
    total: Decimal
    lines: tuple[OrderLine, ...]
    sales_channel: str | None = None
    coupon: str | None = None
    status: str = "placed"
    """placed | shipped | delivered | cancelled | returned"""
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    refunded: Decimal = Decimal(0)
    """Money given back so far by partial refunds or returns; the order stays active.
    A whole-order return or cancellation makes it inactive instead."""

    @property
    def active(self) -> bool:
        return self.status not in ("cancelled", "returned")

    @property
    def revenue(self) -> Decimal:
        """What the shop keeps: the total net of refunds."""
        return max(self.total - self.refunded, Decimal(0))

    @property
    def refundable(self) -> Decimal:
        """What can still be refunded."""
        return self.revenue

    @property
    def gross_profit(self) -> Decimal:
        """Profit of the lines whose cost is known, less refunds; lines without cost count
        as revenue only, so a shop that never sends cost sees gross profit equal to revenue
        (net of refunds, too). A refund lowers revenue and gross profit by the same amount:
        the money goes back, the goods' cost stays spent."""
        profit = Decimal(0)
        for line in self.lines:
            cost = line.unit_cost if line.unit_cost is not None else Decimal(0)
            profit += (line.unit_price - cost) * line.quantity
        return profit - self.refunded


TOPIC_PREFIX = "topic:"


def topic_consent(topic: str) -> ConsentCategory:
    """A topic's consent stands where a category would: ``topic:<name>``."""
    return f"{TOPIC_PREFIX}{topic}"


@dataclass(frozen=True)
class Consent:
    """An opt-in or opt-out for one channel and category, with its provenance."""

    channel: Channel
    category: ConsentCategory
    granted: bool
    source: str | None
    recorded_at: datetime


@dataclass(frozen=True)
class Contact:
    email: str | None = None
    phone: str | None = None
    line_user_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str | None = None
    """None = not stated (an event without a locale keeps the one the profile has)."""

    def merged_with(self, newer: Contact) -> Contact:
        """Newer non-empty values win; nothing known is forgotten."""
        return Contact(
            email=newer.email or self.email,
            phone=newer.phone or self.phone,
            line_user_id=newer.line_user_id or self.line_user_id,
            first_name=newer.first_name or self.first_name,
            last_name=newer.last_name or self.last_name,
            locale=newer.locale or self.locale,
        )


@dataclass(frozen=True)
class Attributes:
    """What the shop knows about the person besides orders (customer upserts)."""

    birthday: date | None = None
    gender: str | None = None
    prefecture: str | None = None
    timezone: str | None = None
    """IANA zone; None = not stated (the shop's, Asia/Tokyo)."""
    acquisition_channel: str | None = None
    created_at: datetime | None = None

    def merged_with(self, newer: Attributes) -> Attributes:
        return Attributes(
            birthday=newer.birthday or self.birthday,
            gender=newer.gender or self.gender,
            prefecture=newer.prefecture or self.prefecture,
            timezone=newer.timezone or self.timezone,
            acquisition_channel=newer.acquisition_channel or self.acquisition_channel,
            created_at=min(
                (d for d in (self.created_at, newer.created_at) if d is not None), default=None
            ),
        )


@dataclass(frozen=True)
class Activity:
    """One recent thing the customer did; `ref` ties "bought" lines to their order."""

    kind: str  # bought | viewed | carted | shipped
    at: datetime
    sku: str | None = None
    category: str | None = None
    quantity: int = 1
    ref: str | None = None


@dataclass(frozen=True)
class OrderStats:
    """Everything the profile derives from active orders."""

    order_count: int = 0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    revenue: Decimal = Decimal(0)
    gross_profit: Decimal = Decimal(0)
    categories: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    sale_lines: int = 0
    full_price_lines: int = 0
    order_hours: tuple[int, ...] = (0,) * 24
    """Orders per local hour of day (shop time zone): the person's active hour."""
    first_offer: str | None = None
    first_product: str | None = None
    """The first order's first line's SKU: what the LTV report's first product counts."""
    first_sales_channel: str | None = None
    last_sales_channel: str | None = None

    def add(self, order: Order) -> OrderStats:
        hours = list(self.order_hours)
        hours[order.placed_at.astimezone(SHOP_TIMEZONE).hour] += 1
        is_first = self.first_order_at is None or order.placed_at < self.first_order_at
        is_last = self.last_order_at is None or order.placed_at >= self.last_order_at
        sale = sum(1 for ln in order.lines if ln.on_sale)
        return OrderStats(
            order_count=self.order_count + 1,
            first_order_at=order.placed_at if is_first else self.first_order_at,
            last_order_at=order.placed_at if is_last else self.last_order_at,
            revenue=self.revenue + order.revenue,
            gross_profit=self.gross_profit + order.gross_profit,
            categories=self.categories | {ln.category for ln in order.lines if ln.category},
            skus=self.skus | {ln.sku for ln in order.lines},
            sale_lines=self.sale_lines + sale,
            full_price_lines=self.full_price_lines + len(order.lines) - sale,
            order_hours=tuple(hours),
            first_offer=order.coupon if is_first else self.first_offer,
            first_product=(order.lines[0].sku if order.lines else None)
            if is_first
            else self.first_product,
            first_sales_channel=order.sales_channel if is_first else self.first_sales_channel,
            last_sales_channel=order.sales_channel if is_last else self.last_sales_channel,
        )

    @classmethod
    def of(cls, orders: Iterable[Order]) -> OrderStats:
        stats = cls()
        for order in sorted(orders, key=lambda o: o.placed_at):
            if order.active:
                stats = stats.add(order)
        return stats

    @property
    def average_order_value(self) -> Decimal:
        if not self.order_count:
            return Decimal(0)
        return (self.revenue / self.order_count).quantize(Decimal("0.01"))

    @property
    def average_interval_days(self) -> float | None:
        """Mean days between orders; needs two orders."""
        if self.order_count < 2 or self.first_order_at is None or self.last_order_at is None:
            return None
        span = (self.last_order_at - self.first_order_at).total_seconds() / 86400
        return round(span / (self.order_count - 1), 1)

    @property
    def expected_next_order_at(self) -> datetime | None:
        interval = self.average_interval_days
        if interval is None or self.last_order_at is None:
            return None
        return self.last_order_at + timedelta(days=interval)

    @property
    def sale_ratio(self) -> float | None:
        lines = self.sale_lines + self.full_price_lines
        return round(self.sale_lines / lines, 3) if lines else None

    @property
    def active_hour(self) -> int | None:
        return active_hour_of(self.order_hours)

    @property
    def active_period(self) -> str | None:
        """朝型 (morning, 5–11h), 昼型 (day), 夜型 (night, 18–4h) from the active hour."""
        hour = self.active_hour
        if hour is None:
            return None
        if 5 <= hour < 11:
            return "morning"
        if 11 <= hour < 18:
            return "daytime"
        return "night"


@dataclass(frozen=True)
class RfmScore:
    r: int
    f: int
    m: int
    rank: str
    """loyal (優良) | semi_loyal (準優良) | general (一般) | dormant (休眠)"""


@dataclass(frozen=True)
class ClvScore:
    """The last analytics pass's predictive CLV (BG/NBD + Gamma-Gamma fitted on the shop, see
    segmenter.domain.clv); absent while the shop lacks the history for a fit."""

    p_alive: float
    expected_purchases_90d: float
    expected_purchases_365d: float
    predicted_clv_365d: float | None
    """discounted at the shop's monthly rate; None when the spend model has no mean"""
    predicted_next_order_at: datetime
    """now + the median wait for the next order if the customer is still active"""


@dataclass(frozen=True)
class Profile:
    shop_id: str
    customer_id: str
    contact: Contact = field(default_factory=Contact)
    attributes: Attributes = field(default_factory=Attributes)
    consents: tuple[Consent, ...] = ()
    stats: OrderStats = field(default_factory=OrderStats)
    activities: tuple[Activity, ...] = ()
    """Recent behaviour as loaded for this use (kinds and windows its rules read): each
    activity is stored in its own item, so the profile item stays small however much the
    person browses; an event adds the activities it brings."""
    latest_activity: dict[str, datetime] = field(default_factory=dict)
    """The newest activity per kind ever recorded (bounded: one instant per kind), so a
    load can skip a kind with nothing in the window it asks for."""
    last_viewed_at: datetime | None = None
    last_carted_at: datetime | None = None
    cart_skus: tuple[str, ...] = ()
    last_shipped_at: datetime | None = None
    preferences: dict[str, frozenset[str]] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    """Tags journeys put on the person (`profile.tagged`), for rules (`tags contains`)."""
    rfm: RfmScore | None = None
    clv: ClvScore | None = None
    segments: frozenset[str] = frozenset()
    identifiers: frozenset[str] = frozenset()
    """Keys (`email#…`, `ext#…`) this profile owns in the identity index."""
    merged_into: str | None = None
    merged_ids: frozenset[str] = frozenset()
    """Ids of the profiles merged into this one (and into those before), so the answer
    shows a merge that happened without the storefront asking."""
    version: int = 0
    """Optimistic-concurrency counter: a write only lands on the version it read."""

    # ---- derived views
    @property
    def order_count(self) -> int:
        return self.stats.order_count

    @property
    def f_stage(self) -> str:
        return f"F{self.stats.order_count}"

    @property
    def locale(self) -> str:
        return self.contact.locale or DEFAULT_LOCALE

    @property
    def timezone(self) -> str:
        return self.attributes.timezone or DEFAULT_TIMEZONE

    @property
    def zone(self) -> ZoneInfo:
        """The customer's time zone: their calendar decides birthdays, ages and "today"."""
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return SHOP_TIMEZONE

    def local_time(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def age_on(self, today: date) -> int | None:
        born = self.attributes.birthday
        if born is None:
            return None
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    def age_band(self, today: date) -> str | None:
        age = self.age_on(today)
        if age is None:
            return None
        if age < 20:
            return "under20"
        return f"{min(age // 10 * 10, 70)}s"

    @property
    def unsubscribed_topics(self) -> frozenset[str]:
        """Topics the person left (on any channel: a topic is left on all of them)."""
        return frozenset(
            c.category.removeprefix(TOPIC_PREFIX)
            for c in self.consents
            if c.category.startswith(TOPIC_PREFIX) and not c.granted
        )

    def consent_for(self, channel: Channel, category: ConsentCategory) -> Consent | None:
        for consent in self.consents:
            if consent.channel == channel and consent.category == category:
                return consent
        return None

    # ---- changes
    def with_contact(self, contact: Contact, consents: tuple[Consent, ...]) -> Profile:
        return replace(
            self,
            contact=self.contact.merged_with(contact),
            consents=merge_consents(self.consents, consents),
        )

    def with_attributes(self, attributes: Attributes) -> Profile:
        return replace(self, attributes=self.attributes.merged_with(attributes))

    def with_order(self, order: Order) -> Profile:
        """The profile after one more order (an imported one may arrive already shipped)."""
        bought = tuple(
            Activity("bought", order.placed_at, ln.sku, ln.category, ln.quantity, order.order_id)
            for ln in order.lines
        )
        folded = replace(self, stats=self.stats.add(order)).with_activities(bought)
        shipped_at = order.shipped_at or order.delivered_at
        return folded.with_shipment(order.order_id, shipped_at) if shipped_at else folded

    def with_orders_refolded(self, active_orders: Iterable[Order], dropped_order: str) -> Profile:
        """After a cancellation or return: stats from the remaining orders, and the dropped
        order's purchases removed from recent behaviour."""
        kept = tuple(
            a for a in self.activities if not (a.kind == "bought" and a.ref == dropped_order)
        )
        return replace(self, stats=OrderStats.of(active_orders), activities=kept)

    def with_orders_restated(self, active_orders: Iterable[Order]) -> Profile:
        """After an order's amounts changed (a partial refund): stats from the orders as
        they are now; what the person bought is unchanged."""
        return replace(self, stats=OrderStats.of(active_orders))

    def with_shipment(self, order_id: str, shipped_at: datetime) -> Profile:
        last = self.last_shipped_at
        return replace(
            self, last_shipped_at=shipped_at if last is None else max(last, shipped_at)
        ).with_activities((Activity("shipped", shipped_at, ref=order_id),))

    def with_view(self, sku: str, category: str | None, at: datetime) -> Profile:
        last = self.last_viewed_at
        return replace(self, last_viewed_at=at if last is None else max(last, at)).with_activities(
            (Activity("viewed", at, sku, category),)
        )

    def with_cart(
        self, skus: tuple[str, ...], lines: tuple[OrderLine, ...], at: datetime
    ) -> Profile:
        if self.last_carted_at is not None and at < self.last_carted_at:
            return self  # an older cart state arriving late changes nothing
        carted = tuple(Activity("carted", at, ln.sku, ln.category, ln.quantity) for ln in lines)
        return replace(self, last_carted_at=at, cart_skus=skus).with_activities(carted)

    def with_consents(self, consents: tuple[Consent, ...]) -> Profile:
        """Consent decisions recorded elsewhere (an unsubscribe): the latest per channel
        and category wins, as with the storefront's."""
        return replace(self, consents=merge_consents(self.consents, consents))

    def with_preferences(self, preferences: dict[str, frozenset[str]]) -> Profile:
        merged = dict(self.preferences)
        merged.update(preferences)
        return replace(self, preferences=merged)

    def with_tag(self, tag: str) -> Profile:
        return self if tag in self.tags else replace(self, tags=self.tags | {tag})

    def new_activities(self, before: Profile) -> tuple[Activity, ...]:
        """What this profile holds that `before` did not: an event's activities to store."""
        held = set(before.activities)
        return tuple(a for a in self.activities if a not in held)

    def with_activities(self, new: tuple[Activity, ...]) -> Profile:
        """Recent behaviour, kept per kind (`ACTIVITY_HISTORY_DAYS` back, at most
        `ACTIVITY_HISTORY_LIMITS` of each), so views never push a purchase out."""
        if not new:
            return self
        everything = (*self.activities, *new)
        newest = max(a.at for a in everything)
        by_kind: dict[str, list[Activity]] = {}
        for activity in everything:
            by_kind.setdefault(activity.kind, []).append(activity)
        kept: list[Activity] = []
        for kind, activities in by_kind.items():
            horizon = newest - timedelta(days=ACTIVITY_HISTORY_DAYS.get(kind, DEFAULT_HISTORY_DAYS))
            recent = sorted((a for a in activities if a.at >= horizon), key=_activity_order)
            kept += recent[-ACTIVITY_HISTORY_LIMITS.get(kind, DEFAULT_HISTORY_LIMIT) :]
        latest = dict(self.latest_activity)
        for activity in new:
            held = latest.get(activity.kind)
            latest[activity.kind] = activity.at if held is None else max(held, activity.at)
        return replace(
            self, activities=tuple(sorted(kept, key=_activity_order)), latest_activity=latest
        )

    def merged_with(
        self, other: Profile, other_orders: Iterable[Order], own_orders: Iterable[Order]
    ) -> Profile:
        """This profile absorbing another one of the same person: all history is kept."""
        return replace(
            self,
            contact=other.contact.merged_with(self.contact),
            attributes=other.attributes.merged_with(self.attributes),
            consents=merge_consents(other.consents, self.consents),
            stats=OrderStats.of([*own_orders, *other_orders]),
            last_viewed_at=_latest(self.last_viewed_at, other.last_viewed_at),
            last_carted_at=_latest(self.last_carted_at, other.last_carted_at),
            cart_skus=self.cart_skus
            if _latest(self.last_carted_at, other.last_carted_at) == self.last_carted_at
            else other.cart_skus,
            last_shipped_at=_latest(self.last_shipped_at, other.last_shipped_at),
            preferences={**other.preferences, **self.preferences},
            tags=self.tags | other.tags,
            merged_ids=self.merged_ids | {other.customer_id} | other.merged_ids,
            latest_activity={
                kind: max(
                    at
                    for at in (self.latest_activity.get(kind), other.latest_activity.get(kind))
                    if at is not None
                )
                for kind in {*self.latest_activity, *other.latest_activity}
            },
        ).with_activities(other.activities)


def active_hour_of(order_hours: Sequence[int]) -> int | None:
    """The hour with the most orders (the earliest of a tie); None before any order."""
    if not any(order_hours):
        return None
    return max(range(24), key=lambda h: (order_hours[h], -h))


def kept_activities(activities: Iterable[Activity], now: datetime) -> tuple[Activity, ...]:
    """The history rules may read at `now`: per kind, the last `ACTIVITY_HISTORY_DAYS`
    and at most the newest `ACTIVITY_HISTORY_LIMITS`, oldest first. Stored activity items
    expire on the same horizon; the event path and the nightly both read through this."""
    by_kind: dict[str, list[Activity]] = {}
    for activity in activities:
        by_kind.setdefault(activity.kind, []).append(activity)
    kept: list[Activity] = []
    for kind, found in by_kind.items():
        horizon = now - timedelta(days=ACTIVITY_HISTORY_DAYS.get(kind, DEFAULT_HISTORY_DAYS))
        recent = sorted((a for a in found if a.at > horizon), key=_activity_order)
        kept += recent[-ACTIVITY_HISTORY_LIMITS.get(kind, DEFAULT_HISTORY_LIMIT) :]
    return tuple(sorted(kept, key=_activity_order))


def history_days(kind: str) -> int:
    return ACTIVITY_HISTORY_DAYS.get(kind, DEFAULT_HISTORY_DAYS)


def history_limit(kind: str) -> int:
    return ACTIVITY_HISTORY_LIMITS.get(kind, DEFAULT_HISTORY_LIMIT)


def _activity_order(a: Activity) -> tuple[datetime, str, str, str, str, int]:
    return (a.at, a.kind, a.ref or "", a.sku or "", a.category or "", a.quantity)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def merge_consents(
    current: tuple[Consent, ...], incoming: tuple[Consent, ...]
) -> tuple[Consent, ...]:
    """The latest recorded decision per (channel, category) wins, whatever order they arrive in."""
    by_key = {(c.channel, c.category): c for c in current}
    for consent in incoming:
        existing = by_key.get((consent.channel, consent.category))
        if existing is None or consent.recorded_at >= existing.recorded_at:
            by_key[(consent.channel, consent.category)] = consent
    return tuple(sorted(by_key.values(), key=lambda c: (c.channel, c.category)))


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
