"""The messenger's ports, one per aggregate: the use cases take only the ones they use,
and reach storage, other services and AWS through them alone (no service module imports
an adapter).

The adapters in `messenger/adapters/` implement them (`bootstrap.build` wires those); a
test's fake subclasses the port its use case takes. The record types they speak in live
in `messenger/domain/`, imported here for the types only: an adapter that implements one
port loads no other port's records (cold start)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from messenger.domain.campaign import Campaign, Touch
    from messenger.domain.coupons import AssignResult, CouponCode, CouponPool
    from messenger.domain.inserts import Insert, PendingInsert, PickLine
    from messenger.domain.journeys.enrolment import Enrolment
    from messenger.domain.journeys.records import Counter, Guard, JourneyHead
    from messenger.domain.line_account import LineCredentials
    from messenger.domain.message import Message
    from messenger.domain.model import Delivery, DeliveryKey, DeliveryStatus, Recipient
    from messenger.domain.policy import ShopPolicy
    from messenger.domain.records import (
        CapUpdate,
        ClaimResult,
        DueEntry,
        Recommendation,
    )
    from messenger.domain.tracking import TrackedDelivery
    from messenger.domain.week import WeekCounts
    from shared.adapters.dynamodb import Position


class DeliveryRepository:
    """Deliveries (claims, transitions, the due queue), unsubscribes and suppressions."""

    def claim_send(
        self,
        delivery: Delivery,
        *,
        expect: DeliveryStatus | None,
        cap: CapUpdate | None,
        address: str | None,
    ) -> ClaimResult:
        """Record the intent to send on `delivery.channel` (status sending), in one step
        with the unsubscribe/suppression checks, the cap reservation and the watch entry
        due at `delivery.unconfirmed_at`. `expect` is the status a resumed delivery was
        read in (None: the delivery must be new)."""
        raise NotImplementedError

    def release_cap_slot(self, shop_id: str, customer_id: str, slot: datetime) -> bool:
        """Give back one reserved cap slot (a marketing send that reached nobody): removes
        that one time from the person's counter, conditional on its version, so the
        slots other sends reserved meanwhile stay. False if it was not there (any more)."""
        raise NotImplementedError

    def find(self, shop_id: str, customer_id: str, delivery_id: str) -> Delivery | None:
        """One of the shop's deliveries by its id, with the customer the log lists it under."""
        raise NotImplementedError

    def transition(self, delivery: Delivery, *, expect: DeliveryStatus | None) -> bool:
        """Write the delivery's new state if it is still in `expect` (None: new); a
        deferred or retry state also writes its due entry, and leaving `sending` removes
        the claim's watch entry, in the same request. False if someone got there first."""
        raise NotImplementedError

    def get(self, key: DeliveryKey) -> Delivery | None:
        raise NotImplementedError

    def due(self, now: datetime, limit: int) -> list[DueEntry]:
        raise NotImplementedError

    def remove_due(self, entry: DueEntry) -> None:
        raise NotImplementedError

    def suppress(self, channel: str, address: str, reason: str, at: datetime) -> None:
        raise NotImplementedError

    def is_suppressed(self, channel: str, address: str) -> bool:
        raise NotImplementedError

    def list_deliveries(
        self, shop_id: str, customer_id: str | None, limit: int, status: str | None = None
    ) -> list[Delivery]:
        raise NotImplementedError

    def deliveries_page(
        self,
        shop_id: str,
        customer_id: str | None,
        limit: int,
        status: str | None,
        after: dict[str, str] | None,
    ) -> tuple[list[Delivery], dict[str, str] | None]:
        """One page of the delivery log, newest first, and the position after it (None
        on the last page). `after` is a position this method returned before."""
        raise NotImplementedError

    def unsubscribe(
        self, shop_id: str, customer_id: str, channel: str, category: str, at: datetime
    ) -> None:
        raise NotImplementedError

    def is_unsubscribed(self, shop_id: str, customer_id: str, channel: str, category: str) -> bool:
        raise NotImplementedError

    def carry_unsubscribes(self, shop_id: str, from_customer: str, to_customer: str) -> int:
        """Copy a merged-away id's unsubscribes to the survivor (the survivor's own, and
        their times, stay); how many were new there."""
        raise NotImplementedError

    def unsubscribed_at(
        self, shop_id: str, customer_id: str, channel: str, category: str
    ) -> datetime | None:
        """When the person unsubscribed from this channel (or `all`) and category, if they did."""
        raise NotImplementedError


class RecipientRepository:
    """The messenger's copy of each person: addresses, consents, reachability, rank."""

    def get(self, shop_id: str, customer_id: str) -> Recipient | None:
        raise NotImplementedError

    def upsert(self, shop_id: str, update: Recipient, at: datetime) -> Recipient:
        """Merge a snapshot in: fields it leaves empty are kept, newer consents win, and a
        channel whose address changed is reachable again."""
        raise NotImplementedError

    def set_reachability(
        self, shop_id: str, customer_id: str, channel: str, reachable: bool, at: datetime
    ) -> None:
        raise NotImplementedError

    def find_by_line_user(
        self, line_user_id: str, shop_id: str | None = None
    ) -> list[tuple[str, str]]:
        """(shop, customer) pairs linked to a LINE user id; only that shop's with `shop_id`."""
        raise NotImplementedError

    def set_rank(
        self, shop_id: str, customer_id: str, rank: str, entered: bool, at: datetime
    ) -> None:
        """Keep the RFM rank from `rfm_<rank>` entered/exited events (newer wins)."""
        raise NotImplementedError


class MessageRepository:
    """Messages and the shop's sending policy."""

    def save(self, message: Message) -> None:
        raise NotImplementedError

    def get(self, shop_id: str, message_id: str) -> Message | None:
        raise NotImplementedError

    def page(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[Message], Position | None]:
        """One page of the shop's messages by id, and where the next one starts."""
        raise NotImplementedError

    def policy(self, shop_id: str) -> ShopPolicy:
        """The shop's policy, or the defaults."""
        raise NotImplementedError

    def save_policy(self, shop_id: str, policy: ShopPolicy) -> None:
        raise NotImplementedError


class CampaignRepository:
    """Campaigns, the copy of segment membership, engagement and conversions."""

    def create(self, campaign: Campaign) -> None:
        """Store a new campaign (Conflict if the id is taken) and list it as active."""
        raise NotImplementedError

    def get(self, shop_id: str, campaign_id: str) -> Campaign | None:
        raise NotImplementedError

    def campaigns_page(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[Campaign], Position | None]:
        """One page of the shop's campaigns by id, and where the next one starts."""
        raise NotImplementedError

    def active(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def save_progress(self, before: Campaign, after: Campaign) -> bool:
        """Write `after` if the stored campaign is still `before` (same version)."""
        raise NotImplementedError

    def stats(self, shop_id: str, campaign_id: str) -> dict[str, int]:
        raise NotImplementedError

    def week_campaigns(self, shop_id: str, monday: date) -> list[str]:
        """The ids of the campaigns scheduled in the week of `monday` (shop time)."""
        raise NotImplementedError

    def index_week(self, campaign: Campaign) -> None:
        """List a campaign under its week (as `create` does; for campaigns made before)."""
        raise NotImplementedError

    def week_figures(self, shop_id: str, campaign_ids: list[str]) -> dict[str, dict[str, int]]:
        """Each campaign's week figures (`week.WEEK_METRICS`), counted as they happened:
        read without the campaigns' records, however many people they reached."""
        raise NotImplementedError

    def records(self, shop_id: str, campaign_id: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    # membership
    def set_membership(
        self, shop_id: str, segment_id: str, customer_id: str, member: bool, at: datetime
    ) -> bool:
        raise NotImplementedError

    def has_segment(self, shop_id: str, segment_id: str) -> bool:
        raise NotImplementedError

    def is_member(self, shop_id: str, segment_id: str, customer_id: str) -> bool:
        """Whether the person is in the segment, as the last membership event said."""
        raise NotImplementedError

    def members(self, shop_id: str, segment_id: str, after: str | None, limit: int) -> list[str]:
        """Up to `limit` current members with ids after `after`, in id order."""
        raise NotImplementedError

    # engagement
    def first_engagement(self, tracked: TrackedDelivery, kind: str, at: datetime) -> bool:
        """Record an open or click; True only for the first of its kind per delivery. A
        campaign's week figures count it with the record's time, once (`opened`: the
        first of an open or a click)."""
        raise NotImplementedError

    def touch(self, shop_id: str, customer_id: str, touch: Touch) -> None:
        raise NotImplementedError

    def last_touch(self, shop_id: str, customer_id: str) -> Touch | None:
        raise NotImplementedError

    def record_conversion(
        self,
        shop_id: str,
        customer_id: str,
        touch: Touch,
        order_id: str,
        total: Decimal,
        at: datetime,
    ) -> bool:
        """Attribute an order once (False if it already was); the campaign's week
        `converted` counts the person's first, with the record's time."""
        raise NotImplementedError


class CouponRepository:
    """Coupon pools, their codes and who was given which."""

    def create_pool(self, pool: CouponPool) -> bool:
        """False if the pool id is taken."""
        raise NotImplementedError

    def get_pool(self, shop_id: str, pool_id: str) -> CouponPool | None:
        raise NotImplementedError

    def add_code(self, shop_id: str, pool_id: str, code: str) -> bool:
        """A free code in the pool; False if the shop already has this code (any pool)."""
        raise NotImplementedError

    def free_codes(self, shop_id: str, pool_id: str, limit: int) -> list[str]:
        raise NotImplementedError

    def count_free(self, shop_id: str, pool_id: str) -> int:
        raise NotImplementedError

    def assign(
        self,
        pool: CouponPool,
        code: str,
        customer_id: str,
        anchor: str,
        at: datetime,
    ) -> AssignResult:
        raise NotImplementedError

    def given(self, shop_id: str, pool_id: str, customer_id: str, anchor: str) -> str | None:
        raise NotImplementedError

    def get_code(self, shop_id: str, code: str) -> CouponCode | None:
        raise NotImplementedError

    def redeem(
        self, shop_id: str, code: str, order_id: str, customer_id: str, at: datetime
    ) -> bool:
        """Mark an assigned code redeemed by this order; False if it was not assigned
        (unknown, free, or already redeemed)."""
        raise NotImplementedError


class InsertRepository:
    """Package inserts, the choices of them and the pick lists."""

    def save_insert(self, insert: Insert) -> None:
        raise NotImplementedError

    def get_insert(self, shop_id: str, insert_id: str) -> Insert | None:
        raise NotImplementedError

    def choose(self, delivery: Delivery, pending: PendingInsert) -> bool:
        """Record the choice; False if this delivery (trigger, customer, anchor) exists."""
        raise NotImplementedError

    def pending(self, shop_id: str, customer_id: str) -> list[PendingInsert]:
        raise NotImplementedError

    def attach(self, pending: PendingInsert, line: PickLine) -> bool:
        """Move a pending insert onto the pick list; False if it was attached already."""
        raise NotImplementedError

    def pick_list(self, shop_id: str, day: date) -> list[PickLine]:
        """The whole day (the CSV the warehouse downloads)."""
        raise NotImplementedError

    def pick_list_page(
        self, shop_id: str, day: date, limit: int, after: Position | None
    ) -> tuple[list[PickLine], Position | None]:
        """One page of the day, in order id order, and the position after it."""
        raise NotImplementedError


class JourneyFacts:
    """Carts, stock, order history, wishes and usage days: what the built-in journeys read."""

    def orders_of(self, shop_id: str, customer_id: str) -> list[Mapping[str, Any]]:
        """The `order.*` facts of each order the messenger saw, in no order."""
        raise NotImplementedError

    def record_cart(
        self,
        shop_id: str,
        customer_id: str,
        cart_id: str,
        lines: Sequence[Mapping[str, Any]],
        at: datetime,
    ) -> None:
        raise NotImplementedError

    def cart(self, shop_id: str, customer_id: str, cart_id: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def record_stock(self, shop_id: str, sku: str, quantity: int, at: datetime) -> bool:
        """Keep the newest quantity; False when a newer one is already stored."""
        raise NotImplementedError

    def stock(self, shop_id: str, skus: Sequence[str]) -> dict[str, int]:
        """The known quantity of each SKU (unknown SKUs are absent: taken as in stock)."""
        raise NotImplementedError

    def want(self, shop_id: str, sku: str, customer_id: str, at: datetime) -> None:
        raise NotImplementedError

    def wanting(self, shop_id: str, sku: str, limit: int) -> list[str]:
        """Up to `limit` people who carted or viewed the SKU while it was sold out."""
        raise NotImplementedError

    def forget_want(self, shop_id: str, sku: str, customer_id: str) -> None:
        """The SKU's return was handed to the journeys for this person: not again."""
        raise NotImplementedError

    def tell(self, shop_id: str, customer_id: str, sku: str, by: str) -> bool:
        """Mark the person told of the SKU's return by `by`; False if someone else did."""
        raise NotImplementedError

    def record_preferences(
        self, shop_id: str, customer_id: str, preferences: Mapping[str, list[str]]
    ) -> None:
        raise NotImplementedError

    def record_usage_days(self, shop_id: str, sku: str, days: int) -> None:
        raise NotImplementedError

    def record_birthday(self, shop_id: str, customer_id: str, day: str) -> None:
        """Keep the person in the calendar under `day`'s month and day (ISO date)."""
        raise NotImplementedError

    def born_on(self, month_day: str) -> Iterator[tuple[str, str, str]]:
        """(shop, customer, birthday) of everyone born on `MM-DD`, every shop."""
        raise NotImplementedError

    def claim_scan(self, day: str) -> bool:
        """True once per `day`: whoever gets it runs that day's date-trigger scan."""
        raise NotImplementedError

    def usage_days(self, shop_id: str, skus: Sequence[str]) -> dict[str, int]:
        """The usage days of each SKU that has them (others are absent)."""
        raise NotImplementedError

    def preferences(self, shop_id: str, customer_id: str) -> dict[str, list[str]]:
        raise NotImplementedError


class JourneyRepository:
    """Journeys, their versions, enrolments, guards, counters and the due index."""

    def create(self, head: JourneyHead, source: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def add_version(self, head: JourneyHead, source: Mapping[str, Any]) -> None:
        """Store version `head.version` and point the head at it (conditional on `rev`)."""
        raise NotImplementedError

    def save_head(self, head: JourneyHead) -> bool:
        """Write a changed head (status); False when someone changed it first."""
        raise NotImplementedError

    def head(self, shop_id: str, journey_id: str) -> JourneyHead | None:
        raise NotImplementedError

    def heads(self, shop_id: str) -> list[JourneyHead]:
        raise NotImplementedError

    def heads_page(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[JourneyHead], Position | None]:
        raise NotImplementedError

    def version(self, shop_id: str, journey_id: str, version: int) -> Mapping[str, Any] | None:
        raise NotImplementedError

    def enrol(self, enrolment: Enrolment, guard: Guard, counters: list[Counter]) -> None:
        """Create the enrolment with its guard and counters, all or nothing; raises
        `AlreadyEntered` when the guard (or the enrolment) says no."""
        raise NotImplementedError

    def advance(self, before: Enrolment, after: Enrolment, counters: list[Counter]) -> None:
        """Record a step: `after` replaces `before` only if its `seq` is still the one
        read, with its counters; else `StaleEnrolment`."""
        raise NotImplementedError

    def enrolments_of(self, shop_id: str, customer_id: str) -> list[Enrolment]:
        raise NotImplementedError

    def due(self, shard: int, until: datetime, limit: int) -> list[Enrolment]:
        """Enrolments of one shard with a step due by `until`, earliest first."""
        raise NotImplementedError

    def has_due(self, shard: int, until: datetime) -> bool:
        """Whether one shard has a step due by `until` (the tick fans out only those)."""
        return bool(self.due(shard, until, 1))

    def parked(self, shop_id: str, journey_id: str) -> Iterator[Enrolment]:
        """The enrolments parked while the journey was paused (a paused journey's due
        steps, out of the dispatcher's shards)."""
        raise NotImplementedError

    def lease(self, shard: int, owner: str, now: datetime, until: datetime) -> bool:
        """Take the shard's lease for `owner` until `until`: False while another owner
        holds one that has not expired by `now`."""
        raise NotImplementedError

    def release(self, shard: int, owner: str) -> None:
        """Give the lease back (only `owner`'s: one that expired and was taken stays)."""
        raise NotImplementedError

    def count_once(self, e: Enrolment, marker: str, counters: list[Counter]) -> bool:
        """Add the counters of `e`'s journey version once per `marker` (a delivery's
        first send, open or click); False when that marker was counted before."""
        raise NotImplementedError

    def record_order(
        self, shop_id: str, customer_id: str, order_id: str, facts: Any, *, only_new: bool = False
    ) -> bool:
        """Keep an order's facts (`order_facts`); `only_new`: unless the order is kept
        already (an import never replaces what a live `order.placed` wrote, and its
        redelivery writes nothing). False when nothing was written."""
        raise NotImplementedError

    def order(self, shop_id: str, customer_id: str, order_id: str) -> Mapping[str, Any]:
        raise NotImplementedError

    def counters(self, shop_id: str, journey_id: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """(version, scope, values) of every counter item (shards not yet summed)."""
        raise NotImplementedError

    def people(self, shop_id: str, journey_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(customer, numbers) of every enrolment's copy of the journey and step counts
        it added (`J|entered`, `S#<step>|sent`...)."""
        raise NotImplementedError

    def week(
        self, shop_id: str, monday: str
    ) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, int]]:
        """(customer, numbers) of every enrolment's share of the week of `monday`
        (`sent`, `opened`...) and the week's totals over all journeys."""
        raise NotImplementedError

    def week_totals(self, shop_id: str, monday: str) -> dict[str | None, dict[str, int]]:
        """The week of `monday`'s totals per journey id (`week`'s second part, split),
        read without the enrolments' shares; None: totals counted before they named
        their journey."""
        raise NotImplementedError

    def week_people(self, shop_id: str, monday: str) -> dict[str, int]:
        """The week of `monday`'s distinct people per metric (campaigns' and journeys'
        together), from counters: whole in a week `weeks_since(..., "people")` covers."""
        raise NotImplementedError

    def weeks_since(self, shop_id: str, counts: WeekCounts = "journeys") -> str | None:
        """The Monday from which `week` holds every journey count of a week, or (`counts`
        "campaigns") from which the campaigns' week figures are whole (None: not yet
        marked; no week can be read that way)."""
        raise NotImplementedError

    def mark_weeks_since(self, shop_id: str, monday: str, counts: WeekCounts = "journeys") -> str:
        """Mark `monday` as the first whole week, unless one is marked; the mark kept."""
        raise NotImplementedError


class LineCredentialStore:
    """The shops' own LINE channels' credentials."""

    def get(self, shop_id: str) -> LineCredentials | None:
        raise NotImplementedError

    def put(self, shop_id: str, credentials: LineCredentials) -> None:
        raise NotImplementedError

    def delete(self, shop_id: str) -> bool:
        """True if there was something to delete."""
        raise NotImplementedError


class ProfileRules:
    """Port: one answer per rule, in order, for one customer."""

    def match(
        self, shop_id: str, customer_id: str, rules: Sequence[Mapping[str, Any]]
    ) -> list[bool]:
        raise NotImplementedError


class RecommendationSource:
    """Port: up to `limit` items for one customer, best first."""

    def recommend(self, shop_id: str, customer_id: str, limit: int) -> list[Recommendation]:
        raise NotImplementedError


class ShardQueue:
    """Port: hand due shards, and the next page of a restock's wish list, to workers."""

    def fan_out(self, shards: Sequence[int], until: datetime) -> None:
        raise NotImplementedError

    def restock_page(self, restock: Mapping[str, Any]) -> None:
        """Queue the next page of a restocked SKU's wish list (`JourneyIntake.restock`'s
        payload: shop, SKU, the event's id, time and detail)."""
        raise NotImplementedError


class SignatureVerifier:
    """Port: whether SNS signed a message (its certificate fetched and kept by the adapter)."""

    def verify(self, message: Mapping[str, Any], now: datetime) -> None:
        """Raises Unauthenticated unless SNS signed exactly this message within the hour."""
        raise NotImplementedError


class SubscriptionConfirmer:
    """Port: confirms an SNS subscription through the SNS API."""

    def confirm(self, topic_arn: str, token: str) -> None:
        raise NotImplementedError
