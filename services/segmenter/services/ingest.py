"""Ingest use cases: every storefront event becomes one atomic write and the events it
causes. One function per command, called by a thin route, handler or importer.

The shape of each: check the event id and resolve who the event is about (one batched
read), fold the event into the profile in pure domain code, re-evaluate segment
membership, commit everything in one transaction (which also marks the event id as
processed), run the idempotent writes the commit left for after it (a merge's clean-up),
then publish. A refused event has written nothing. A duplicate event redoes those writes
and re-publishes what the first delivery published: if that delivery crashed after its
commit, the retry completes it; consumers deduplicate on event ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from segmenter.domain.commands import (
    ChangeInventory,
    ChangeOrderStatus,
    CustomerRef,
    RecordOrder,
    RecordPreferences,
    RecordView,
    UpdateCart,
    UpsertCustomer,
)
from segmenter.domain.errors import ConcurrentUpdate, DuplicateEvent
from segmenter.domain.identity import Identifier, identifiers_of, resolve
from segmenter.domain.model import (
    TOPIC_PREFIX,
    Activity,
    Attributes,
    Consent,
    Order,
    Profile,
    topic_consent,
)
from segmenter.domain.records import AfterCommit, ChangeSet, EventRead, Product, duplicate_of
from segmenter.services.ports import (
    EventStore,
    OrderStore,
    ProductStore,
    ProfileRepository,
    ProfileStore,
    SegmentStore,
)
from shared.adapters.eventbridge import EventPublisher
from shared.contracts import details
from shared.contracts.channels import CHANNELS
from shared.contracts.envelope import EventEnvelope, derived_event_id
from shared.errors import Conflict, DependencyFailed, InvalidInput, NotFound
from shared.log import get_logger

Clock = Callable[[], datetime]
MAX_WRITE_ATTEMPTS = 8
MAX_MERGE_HOPS = 8
_log = get_logger("kizuna.segmenter")


class MembershipRules(Protocol):
    """The shop's segment rules, applied to a profile an event changed."""

    def changes(
        self, profile: Profile, now: datetime
    ) -> tuple[frozenset[str], list[str], list[str]]:
        """(segments now, entered, exited)."""
        ...

    def activity_windows(self, shop_id: str) -> dict[str, int | None]:
        """Activity kinds the rules read, with the days each looks back (None: all kept)."""
        ...


class NoMembership:
    """For imported history: segments are left to the nightly recompute."""

    def changes(
        self, profile: Profile, now: datetime
    ) -> tuple[frozenset[str], list[str], list[str]]:
        return profile.segments, [], []

    def activity_windows(self, shop_id: str) -> dict[str, int | None]:
        return {}


@dataclass(frozen=True)
class Ingest:
    """What every ingest handler needs, built once by the composition root; `handle`
    runs a command through its handler (`HANDLERS`)."""

    profiles: ProfileStore
    events: EventStore
    orders: OrderStore
    memberships: SegmentStore
    products: ProductStore
    publisher: EventPublisher
    clock: Clock
    rules: MembershipRules

    @classmethod
    def historical(cls, repo: ProfileRepository, publisher: EventPublisher, clock: Clock) -> Ingest:
        """For imported history, on the whole repository, without segment rules."""
        return cls(repo, repo, repo, repo, repo, publisher, clock, NoMembership())

    def handle(self, cmd: Command) -> Ingested:
        """One storefront event of any type."""
        handler: Callable[[Any, Ingest], Ingested] = HANDLERS[type(cmd)]
        return handler(cmd, self)

    def batch(self, commands: Sequence[Command]) -> list[Ingested | NotFound | Conflict]:
        """Every command checked first (a bad one refuses the batch, naming
        `events.<i>.<field>`); then each applied on its own, so a conflict or a missing
        order in one does not undo the others (any other error stops the batch)."""
        for i, command in enumerate(commands):
            try:
                check_command(command)
            except InvalidInput as err:
                field = f"events.{i}.{err.field}" if err.field else f"events.{i}"
                raise InvalidInput(err.message, field=field) from None
        outcomes: list[Ingested | NotFound | Conflict] = []
        for command in commands:
            try:
                outcomes.append(self.handle(command))
            except (NotFound, Conflict) as err:
                outcomes.append(err)
        return outcomes

    def engaged(self, envelope: EventEnvelope, detail: details.MessageEngaged) -> Ingested:
        return record_engagement(self, envelope, detail)

    def consent_withdrawn(
        self, envelope: EventEnvelope, detail: details.ConsentWithdrawn
    ) -> Ingested:
        return record_consent_withdrawn(self, envelope, detail)

    def tagged(self, envelope: EventEnvelope, detail: details.ProfileTagged) -> Ingested:
        return record_tag(self, envelope, detail)

    def survey_answered(self, envelope: EventEnvelope, detail: details.SurveyAnswered) -> Ingested:
        """Survey answers (the feedback service's event) become profile preferences."""
        cmd = RecordPreferences(
            event_id=envelope.id,
            shop_id=envelope.shop,
            customer_id=detail.customer_id,
            preferences={k: frozenset(v) for k, v in detail.preferences.items()},
        )
        return record_preferences(cmd, self)


@dataclass(frozen=True)
class Ingested:
    event_id: str
    event_type: str
    duplicate: bool
    customer_id: str | None = None
    subject: str | None = None
    profile: Profile | None = None
    published: list[str] = field(default_factory=list)

    @property
    def order_id(self) -> str | None:
        return self.subject if self.event_type == "order.placed" else None


# ---------------------------------------------------------------------------- helpers


def _envelope(
    event_id: str, shop_id: str, event_type: str, detail: BaseModel, now: datetime
) -> EventEnvelope:
    return EventEnvelope(
        id=event_id, shop=shop_id, type=event_type, time=now, detail=detail.model_dump(mode="json")
    )


def snapshot(profile: Profile) -> details.CustomerSnapshot:
    c = profile.contact
    return details.CustomerSnapshot(
        customer_id=profile.customer_id,
        email=c.email,
        phone=c.phone,
        line_user_id=c.line_user_id,
        first_name=c.first_name,
        last_name=c.last_name,
        locale=profile.locale,
        timezone=profile.timezone,
        active_hour=profile.stats.active_hour,
        consents=[
            details.ConsentSnapshot(
                channel=x.channel,
                category=x.category,
                granted=x.granted,
                source=x.source,
                recorded_at=x.recorded_at,
            )
            for x in profile.consents
            if not x.category.startswith(TOPIC_PREFIX)  # the messenger keeps its own
        ],
    )


@dataclass
class _Subject:
    """A resolved person: their profile as read, and what resolving them changes."""

    profile: Profile
    read_version: int
    claims: list[tuple[Identifier, str, str | None]]
    merged: list[tuple[Profile, int]]
    after_commit: AfterCommit


def _with_history(ingest: Ingest, profile: Profile, now: datetime) -> Profile:
    """The stored profile with the activity history its shop's rules read (none for a
    new profile, nor when no rule reads any: then no request at all)."""
    windows = ingest.rules.activity_windows(profile.shop_id)
    if not windows or not profile.latest_activity:
        return profile
    loaded = ingest.profiles.load_activities(profile.shop_id, profile, windows, now)
    return replace(profile, activities=loaded)


def _live(profiles: ProfileStore, shop_id: str, profile: Profile | None) -> Profile | None:
    """`profile`, or the profile it was merged into (followed to the end)."""
    for _ in range(MAX_MERGE_HOPS):
        if profile is None or not profile.merged_into:
            return profile
        profile = profiles.get_profile(shop_id, profile.merged_into)
    raise DependencyFailed("customer merges chain too deep; retry the request")


def _resolve_subject(
    ingest: Ingest,
    shop_id: str,
    ref: CustomerRef,
    identifiers: list[Identifier],
    read: EventRead,
    now: datetime,
) -> _Subject:
    """Who the event is about. An id of a merged-away profile (a `k-…` id in a survey
    answer, an identifier whose index entry was not moved yet) leads to the survivor.
    Merging writes nothing here: the commit does, and the orders and identifiers of the
    merged-away profile move after it (`AfterCommit`), so a refused event changes nothing."""
    stored = read.owners
    resolved = resolve(identifiers, stored)
    likely = read.profile
    profile = likely if likely is not None and likely.customer_id == resolved else None
    if profile is None and (stored or ref.customer_id != resolved):
        profile = ingest.profiles.get_profile(shop_id, resolved)
    profile = _live(ingest.profiles, shop_id, profile)
    if profile is None:
        profile = Profile(
            shop_id=shop_id,
            customer_id=resolved,
            attributes=Attributes(created_at=now),
        )
    profile = _with_history(ingest, profile, now)
    survivor = profile.customer_id
    read_version = profile.version
    claims = [
        (i, survivor, stored.get(i))
        for i in dict.fromkeys(identifiers)
        if stored.get(i) != survivor
    ]
    merged: list[tuple[Profile, int]] = []
    moved: list[tuple[str, str]] = []
    unlisted: list[tuple[str, str]] = []
    history: list[Order] | None = None
    seen = {survivor, resolved}
    for owner in dict.fromkeys(stored.values()):
        if owner in seen:
            continue
        other = _live(ingest.profiles, shop_id, ingest.profiles.get_profile(shop_id, owner))
        if other is None or other.customer_id in seen:
            continue
        other = _with_history(ingest, other, now)
        seen.add(other.customer_id)
        if history is None:
            history = ingest.orders.list_orders(shop_id, survivor)
        other_orders = ingest.orders.list_orders(shop_id, other.customer_id)
        profile = profile.merged_with(other, other_orders, history)
        history = [*history, *other_orders]
        claimed = {c[0].key for c in claims}
        moved += [(k, other.customer_id) for k in sorted(other.identifiers) if k not in claimed]
        unlisted += [(segment, other.customer_id) for segment in sorted(other.segments)]
        merged.append((replace(other, merged_into=survivor, segments=frozenset()), other.version))
        _log.info(
            "profiles merged",
            extra={"shop": shop_id, "survivor": survivor, "merged": other.customer_id},
        )
    profile = replace(
        profile,
        identifiers=profile.identifiers | {c[0].key for c in claims} | {k for k, _ in moved},
    )
    after_commit = AfterCommit(
        survivor=survivor,
        merged=tuple(m.customer_id for m, _ in merged),
        identifiers=tuple(moved),
        unlisted=tuple(unlisted),
    )
    return _Subject(profile, read_version, claims, merged, after_commit)


def _finish(ingest: Ingest, shop_id: str, work: AfterCommit | None, *, retry: bool = False) -> None:
    """The idempotent writes a commit left for after it. On a retry (the first delivery
    may have stopped before them) they are checked against the data as it is now."""
    if work is None or work.empty:
        return
    survivor = work.survivor
    if survivor is not None and retry:
        live = _live(ingest.profiles, shop_id, ingest.profiles.get_profile(shop_id, survivor))
        survivor = live.customer_id if live is not None else survivor
    if survivor is not None:
        for dead in work.merged:
            ingest.orders.move_orders(shop_id, dead, survivor)
            ingest.profiles.move_activities(shop_id, dead, survivor)
        if work.identifiers:
            moved = [(Identifier.from_key(k), owner) for k, owner in work.identifiers]
            ingest.profiles.move_identifiers(shop_id, moved, survivor)
    spilled = list(work.spilled)
    if retry and spilled:
        wanted = [c for _, c, _ in spilled]
        current = {p.customer_id: p for p in ingest.profiles.get_profiles(shop_id, wanted)}
        spilled = [(seg, c, c in current and seg in current[c].segments) for seg, c, _ in spilled]
    entered = [(seg, c) for seg, c, member in spilled if member]
    exited = [*work.unlisted, *((seg, c) for seg, c, member in spilled if not member)]
    if entered or exited:
        ingest.memberships.set_memberships(shop_id, entered, exited)


def _membership_change(
    ingest: Ingest, profile: Profile, now: datetime
) -> tuple[Profile, list[str], list[str]]:
    """`profile` (folded; its `segments` still as before the event) with its segments now."""
    after, entered, exited = ingest.rules.changes(profile, now)
    return replace(profile, segments=after), entered, exited


def _segment_envelopes(
    shop_id: str,
    event_id: str,
    customer_id: str,
    entered: list[str],
    exited: list[str],
    now: datetime,
) -> list[EventEnvelope]:
    out = []
    for kind, ids in (("segment.entered", entered), ("segment.exited", exited)):
        for segment_id in ids:
            detail = details.SegmentMembershipChanged(
                segment_id=segment_id, customer_id=customer_id
            )
            derived = derived_event_id(event_id, kind, segment_id)
            out.append(_envelope(derived, shop_id, kind, detail, now))
    return out


def _merge_envelopes(
    shop_id: str,
    event_id: str,
    survivor: str,
    merged: list[tuple[Profile, int]],
    now: datetime,
) -> list[EventEnvelope]:
    """`customer.merged` for the profiles this event merged (none when it merged none).
    Its id derives from the event's, and it is kept with what the event published, so a
    replayed event re-sends the same event id and never a second merge."""
    if not merged:
        return []
    ids = sorted({i for p, _ in merged for i in (p.customer_id, *p.merged_ids)})
    detail = details.CustomerMerged(customer_id=survivor, merged_ids=ids, caused_by=event_id)
    derived = derived_event_id(event_id, "customer.merged")
    return [_envelope(derived, shop_id, "customer.merged", detail, now)]


def _commit_with_retry(attempt: Callable[[], Ingested]) -> Ingested:
    for _ in range(MAX_WRITE_ATTEMPTS):
        try:
            return attempt()
        except ConcurrentUpdate:
            continue
    raise DependencyFailed("data kept changing concurrently; retry the request")


def _on_duplicate(
    ingest: Ingest,
    dup: DuplicateEvent,
    shop_id: str,
    event_id: str,
    event_type: str,
    subject: str,
) -> Ingested:
    if dup.event_type != event_type or dup.subject != subject:
        raise Conflict(
            f"event id was already used for another event ({dup.event_type})", field="event_id"
        )
    _finish(ingest, shop_id, AfterCommit.from_dict(dup.after_commit), retry=True)
    if dup.published:
        ingest.publisher.publish([EventEnvelope.model_validate_json(e) for e in dup.published])
    _log.info("duplicate event", extra={"event_id": event_id, "type": event_type})
    return Ingested(event_id, event_type, True, subject=subject, published=dup.published)


def _person_event(
    ingest: Ingest,
    *,
    shop_id: str,
    event_id: str,
    event_type: str,
    ref: CustomerRef,
    subject: str,
    fold: Callable[[Profile], Profile],
    main_event: Callable[[Profile, datetime], EventEnvelope | None],
    new_orders: Sequence[Order] = (),
) -> Ingested:
    """The common path of an event about one person."""
    identifiers = identifiers_of(ref.customer_id, ref.contact)
    if not identifiers:
        raise InvalidInput(
            "name the customer by customer_id, email, phone or line_user_id", field="customer"
        )

    def attempt() -> Ingested:
        now = ingest.clock()
        read = ingest.profiles.load_for_event(shop_id, event_id, identifiers, ref.customer_id)
        if read.marker is not None:
            raise duplicate_of(read.marker)
        person = _resolve_subject(ingest, shop_id, ref, identifiers, read, now)
        folded = fold(person.profile)
        folded, entered, exited = _membership_change(ingest, folded, now)
        main = main_event(folded, now)
        envelopes = [
            *_merge_envelopes(shop_id, event_id, folded.customer_id, person.merged, now),
            *([main] if main else []),
            *_segment_envelopes(shop_id, event_id, folded.customer_id, entered, exited, now),
        ]
        published = [e.model_dump_json() for e in envelopes]
        orders = [replace(o, customer_id=folded.customer_id) for o in new_orders]
        work = ingest.events.commit(
            ChangeSet(
                shop_id=shop_id,
                event_id=event_id,
                event_type=event_type,
                subject=subject,
                published=published,
                profiles=[(folded, person.read_version), *person.merged],
                new_orders=orders,
                claims=person.claims,
                entered=[(s, folded.customer_id) for s in entered],
                exited=[(s, folded.customer_id) for s in exited],
                after_commit=person.after_commit,
                activities=[(folded.customer_id, a) for a in folded.new_activities(person.profile)],
            )
        )
        _finish(ingest, shop_id, work)
        if envelopes:
            ingest.publisher.publish(envelopes)
        return Ingested(event_id, event_type, False, folded.customer_id, subject, folded, published)

    try:
        return _commit_with_retry(attempt)
    except DuplicateEvent as dup:
        return _on_duplicate(ingest, dup, shop_id, event_id, event_type, subject)


# ---------------------------------------------------------------------------- use cases


def _lines(order: Order) -> list[details.LineItem]:
    return [
        details.LineItem(
            sku=ln.sku,
            category=ln.category,
            quantity=ln.quantity,
            unit_price=ln.unit_price,
            list_price=ln.list_price,
        )
        for ln in order.lines
    ]


def imported_envelope(
    event_id: str, shop_id: str, order: Order, profile: Profile, now: datetime
) -> EventEnvelope:
    """`order.imported` for an order of imported history, under the import's event id
    (derived from the order's content, so a re-run publishes the same id)."""
    detail = details.OrderImported(
        order_id=order.order_id,
        customer=snapshot(profile),
        placed_at=order.placed_at,
        currency=order.currency,
        total=order.total,
        items=_lines(order),
        sales_channel=order.sales_channel,
        order_count=max(profile.order_count, 1),
    )
    return _envelope(event_id, shop_id, "order.imported", detail, now)


def record_order(cmd: RecordOrder, ingest: Ingest) -> Ingested:
    """Store an order and fold it into the profile; publishes `order.placed`, or for
    imported history `order.imported` (which no one takes for a purchase made now)."""

    def fold(p: Profile) -> Profile:
        order = replace(cmd.order, customer_id=p.customer_id)
        return p.with_contact(cmd.contact, cmd.consents).with_order(order)

    def placed(p: Profile, now: datetime) -> EventEnvelope | None:
        o = cmd.order
        if cmd.historical:
            return imported_envelope(cmd.event_id, cmd.shop_id, o, p, now)
        detail = details.OrderPlaced(
            order_id=o.order_id,
            customer=snapshot(p),
            placed_at=o.placed_at,
            currency=o.currency,
            total=o.total,
            items=_lines(o),
            sales_channel=o.sales_channel,
            order_count=p.order_count,
            is_first_order=p.order_count == 1,
            coupon=o.coupon,
        )
        return _envelope(cmd.event_id, cmd.shop_id, "order.placed", detail, now)

    return _person_event(
        ingest,
        shop_id=cmd.shop_id,
        event_id=cmd.event_id,
        event_type="order.placed",
        ref=CustomerRef(cmd.order.customer_id, cmd.contact),
        subject=cmd.order.order_id,
        fold=fold,
        main_event=placed,
        new_orders=[cmd.order],
    )


def upsert_customer(cmd: UpsertCustomer, ingest: Ingest) -> Ingested:
    def fold(p: Profile) -> Profile:
        return p.with_contact(cmd.customer.contact, cmd.consents).with_attributes(cmd.attributes)

    def upserted(p: Profile, now: datetime) -> EventEnvelope:
        detail = details.CustomerUpserted(customer=snapshot(p), birthday=p.attributes.birthday)
        return _envelope(cmd.event_id, cmd.shop_id, "customer.upserted", detail, now)

    return _person_event(
        ingest,
        shop_id=cmd.shop_id,
        event_id=cmd.event_id,
        event_type="customer.upserted",
        ref=cmd.customer,
        subject=_ref_subject(cmd.customer),
        fold=fold,
        main_event=upserted,
    )


def _ref_subject(ref: CustomerRef) -> str:
    """Who the event names, as its marker keeps it (a replay must name the same): the
    storefront id, else a hash of the email, phone or LINE id, which the marker may keep
    for 90 days without keeping the person's contact data."""
    first = identifiers_of(ref.customer_id, ref.contact)
    if not first:
        return ""
    if first[0].kind == "ext":
        return first[0].key
    return f"{first[0].kind}#sha256:{hashlib.sha256(first[0].value.encode()).hexdigest()[:32]}"


def update_cart(cmd: UpdateCart, ingest: Ingest) -> Ingested:
    def fold(p: Profile) -> Profile:
        return p.with_cart(tuple(ln.sku for ln in cmd.lines), cmd.lines, cmd.at)

    def updated(p: Profile, now: datetime) -> EventEnvelope:
        detail = details.CartUpdated(
            customer_id=p.customer_id,
            cart_id=cmd.cart_id,
            updated_at=cmd.at,
            items=[
                details.LineItem(
                    sku=ln.sku, category=ln.category, quantity=ln.quantity, unit_price=ln.unit_price
                )
                for ln in cmd.lines
            ],
        )
        return _envelope(cmd.event_id, cmd.shop_id, "cart.updated", detail, now)

    return _person_event(
        ingest,
        shop_id=cmd.shop_id,
        event_id=cmd.event_id,
        event_type="cart.updated",
        ref=cmd.customer,
        subject=cmd.cart_id,
        fold=fold,
        main_event=updated,
    )


def record_view(cmd: RecordView, ingest: Ingest) -> Ingested:
    def viewed(p: Profile, now: datetime) -> EventEnvelope:
        detail = details.ProductViewed(
            customer_id=p.customer_id, sku=cmd.sku, category=cmd.category, viewed_at=cmd.at
        )
        return _envelope(cmd.event_id, cmd.shop_id, "product.viewed", detail, now)

    return _person_event(
        ingest,
        shop_id=cmd.shop_id,
        event_id=cmd.event_id,
        event_type="product.viewed",
        ref=cmd.customer,
        subject=cmd.sku,
        fold=lambda p: p.with_view(cmd.sku, cmd.category, cmd.at),
        main_event=viewed,
    )


_STATUS_EVENTS = {
    "shipped": "order.shipped",
    "delivered": "order.delivered",
    "cancelled": "order.cancelled",
    "returned": "order.returned",
}
_ALLOWED_FROM = {
    "shipped": {"placed"},
    "delivered": {"placed", "shipped"},
    "cancelled": {"placed", "shipped"},
    "returned": {"shipped", "delivered"},
}


def _partial_refund(cmd: ChangeOrderStatus, order: Order) -> bool:
    """Whether a return gives back part of the order's money only (refused when it is
    more than what is left of the order)."""
    if cmd.status != "returned" or cmd.amount is None or not order.active:
        return False
    if cmd.amount > order.refundable:
        raise Conflict(
            f"more than is left of the order to refund ({order.refundable})", field="amount"
        )
    return cmd.amount < order.refundable


def _fold_status_change(
    orders: OrderStore, cmd: ChangeOrderStatus, profile: Profile, changed: Order, partial: bool
) -> Profile:
    """The profile after the order's change: restated on a partial refund, re-folded
    without the order when it is cancelled or returned, given a shipping anchor when it
    ships (or is delivered without having shipped first)."""
    if partial or cmd.status in ("cancelled", "returned"):
        others = [
            o
            for o in orders.list_orders(cmd.shop_id, profile.customer_id)
            if o.order_id != changed.order_id
        ]
        if partial:
            return profile.with_orders_restated([*others, changed])
        return profile.with_orders_refolded(others, changed.order_id)
    if cmd.status == "shipped" or changed.shipped_at is None:
        # Delivered without a shipped event first: the delivery is the shipping anchor.
        return profile.with_shipment(changed.order_id, cmd.at)
    return profile


def change_order_status(cmd: ChangeOrderStatus, ingest: Ingest) -> Ingested:
    """Shipped / delivered set the shipping anchor; cancelled / returned take the order
    back out of the profile (its stats are re-folded from the remaining orders). A return
    with an amount less than what is left of the order is a partial refund: the order
    stays active and its revenue and gross profit drop by the amount (re-folded too, so
    profile revenue, AOV and LTV are net of refunds). Each refund counts once per event
    id; a retried event is a duplicate."""
    event_type = _STATUS_EVENTS[cmd.status]

    def attempt() -> Ingested:
        now = ingest.clock()
        marker = ingest.events.get_event(cmd.shop_id, cmd.event_id)
        if marker is not None:
            raise duplicate_of(marker)  # a replay, whatever the order's status is now
        order = ingest.orders.get_order(cmd.shop_id, cmd.order_id)
        if order is None:
            raise NotFound("order not found", field="order_id")
        partial = _partial_refund(cmd, order)
        if order.status == cmd.status:
            raise DuplicateEvent([], cmd.order_id, event_type)  # same change, new event id
        if not partial and order.status not in _ALLOWED_FROM[cmd.status]:
            raise Conflict(
                f"an order that is {order.status} cannot become {cmd.status}", field="order_id"
            )
        stored = ingest.profiles.get_profile(cmd.shop_id, order.customer_id)
        profile = _live(ingest.profiles, cmd.shop_id, stored)
        if profile is None:
            profile = Profile(cmd.shop_id, order.customer_id)
        profile = _with_history(ingest, profile, now)
        customer_id = profile.customer_id  # the survivor, if the customer was merged away
        changed = replace(
            order,
            customer_id=customer_id,
            status=order.status if partial else cmd.status,
            shipped_at=cmd.at if cmd.status == "shipped" else order.shipped_at,
            delivered_at=cmd.at if cmd.status == "delivered" else order.delivered_at,
            refunded=order.refunded + cmd.amount if partial and cmd.amount else order.refunded,
        )
        folded = _fold_status_change(ingest.orders, cmd, profile, changed, partial)
        folded, entered, exited = _membership_change(ingest, folded, now)
        detail: BaseModel
        if cmd.status == "shipped":
            detail = details.OrderShipped(
                order_id=order.order_id,
                customer_id=customer_id,
                shipped_at=cmd.at,
                carrier=cmd.carrier,
                tracking_number=cmd.tracking_number,
            )
        elif cmd.status == "delivered":
            detail = details.OrderDelivered(
                order_id=order.order_id, customer_id=customer_id, delivered_at=cmd.at
            )
        elif cmd.status == "cancelled":
            detail = details.OrderCancelled(
                order_id=order.order_id, customer_id=customer_id, cancelled_at=cmd.at
            )
        else:
            detail = details.OrderReturned(
                order_id=order.order_id,
                customer_id=customer_id,
                returned_at=cmd.at,
                amount=cmd.amount if partial else order.refundable,
                partial=partial,
            )
        envelopes = [
            _envelope(cmd.event_id, cmd.shop_id, event_type, detail, now),
            *_segment_envelopes(cmd.shop_id, cmd.event_id, customer_id, entered, exited, now),
        ]
        published = [e.model_dump_json() for e in envelopes]
        work = ingest.events.commit(
            ChangeSet(
                shop_id=cmd.shop_id,
                event_id=cmd.event_id,
                event_type=event_type,
                subject=cmd.order_id,
                published=published,
                profiles=[(folded, profile.version)],
                updated_orders=[(changed, order.status)],
                entered=[(s, customer_id) for s in entered],
                exited=[(s, customer_id) for s in exited],
                activities=[(customer_id, a) for a in folded.new_activities(profile)],
            )
        )
        _finish(ingest, cmd.shop_id, work)
        ingest.publisher.publish(envelopes)
        return Ingested(
            cmd.event_id, event_type, False, customer_id, cmd.order_id, folded, published
        )

    try:
        return _commit_with_retry(attempt)
    except DuplicateEvent as dup:
        return _on_duplicate(ingest, dup, cmd.shop_id, cmd.event_id, event_type, cmd.order_id)


def change_inventory(cmd: ChangeInventory, ingest: Ingest) -> Ingested:
    """Record a SKU's stock; publishes `inventory.changed` with the previous quantity, so
    the feedback service can start a restock release when it goes from 0 to positive."""

    def attempt() -> Ingested:
        now = ingest.clock()
        marker = ingest.events.get_event(cmd.shop_id, cmd.event_id)
        if marker is not None:
            raise duplicate_of(marker)
        current = ingest.products.get_product(cmd.shop_id, cmd.sku)
        previous = current.quantity if current is not None else None
        product = Product(
            sku=cmd.sku,
            quantity=cmd.quantity,
            category=cmd.category or (current.category if current else None),
            tags=cmd.tags or (current.tags if current else ()),
            name=cmd.name or (current.name if current else None),
        )
        detail = details.InventoryChanged(
            sku=cmd.sku, previous_quantity=previous or 0, quantity=cmd.quantity
        )
        envelope = _envelope(cmd.event_id, cmd.shop_id, "inventory.changed", detail, now)
        published = [envelope.model_dump_json()]
        ingest.events.commit(
            ChangeSet(
                shop_id=cmd.shop_id,
                event_id=cmd.event_id,
                event_type="inventory.changed",
                subject=cmd.sku,
                published=published,
                product=(product, previous),
            )
        )
        ingest.publisher.publish([envelope])
        return Ingested(
            cmd.event_id, "inventory.changed", False, subject=cmd.sku, published=published
        )

    try:
        return _commit_with_retry(attempt)
    except DuplicateEvent as dup:
        return _on_duplicate(ingest, dup, cmd.shop_id, cmd.event_id, "inventory.changed", cmd.sku)


def record_preferences(cmd: RecordPreferences, ingest: Ingest) -> Ingested:
    """Survey answers become profile preferences (used by rules and recommendation filters)."""
    return _person_event(
        ingest,
        shop_id=cmd.shop_id,
        event_id=cmd.event_id,
        event_type="survey.answered",
        ref=CustomerRef(cmd.customer_id),
        subject=cmd.customer_id,
        fold=lambda p: p.with_preferences(cmd.preferences),
        main_event=lambda p, now: None,
    )


def record_engagement(
    ingest: Ingest, envelope: EventEnvelope, detail: details.MessageEngaged
) -> Ingested:
    """Opens and clicks as activities, so behaviour segments can use them."""
    kind = envelope.type.removeprefix("message.")
    activity = Activity(kind, envelope.time, ref=detail.campaign_id or detail.delivery_id)
    return _person_event(
        ingest,
        shop_id=envelope.shop,
        event_id=envelope.id,
        event_type=envelope.type,
        ref=CustomerRef(detail.customer_id),
        subject=detail.delivery_id,
        fold=lambda p: p.with_activities((activity,)),
        main_event=lambda p, now: None,
    )


def record_tag(ingest: Ingest, envelope: EventEnvelope, detail: details.ProfileTagged) -> Ingested:
    """A journey's tag step: the tag joins the profile's `tags` (rules read them, and the
    person's segments are re-evaluated now, so a segment on the tag is entered at once).
    Idempotent on the event id (the messenger derives it from the enrolment and step).
    Someone the segmenter has no profile of gets none: nothing is recorded."""
    return _fold_known_profile(
        ingest, envelope, detail.customer_id, lambda p: p.with_tag(detail.tag), "tag"
    )


def _fold_known_profile(
    ingest: Ingest,
    envelope: EventEnvelope,
    customer_id: str,
    fold: Callable[[Profile], Profile],
    what: str,
) -> Ingested:
    """Fold an event into a profile the segmenter already has; someone it has no profile
    of gets none (logged as `<what> for no known profile`, nothing recorded)."""
    try:
        profile = get_profile(ingest.profiles, envelope.shop, customer_id)
    except NotFound:
        _log.info(
            f"{what} for no known profile", extra={"event_id": envelope.id, "shop": envelope.shop}
        )
        return Ingested(envelope.id, envelope.type, False, subject=customer_id)
    return _person_event(
        ingest,
        shop_id=envelope.shop,
        event_id=envelope.id,
        event_type=envelope.type,
        ref=CustomerRef(profile.customer_id),
        subject=customer_id,
        fold=fold,
        main_event=lambda p, now: None,
    )


def record_consent_withdrawn(
    ingest: Ingest, envelope: EventEnvelope, detail: details.ConsentWithdrawn
) -> Ingested:
    """An unsubscribe the messenger honoured becomes the profile's consent for that
    channel (every channel for `all`) and category (or topic, as ``topic:<name>``, which
    rules read through `unsubscribed_topics`): withdrawn, with its time and source,
    so segments built on consent stop holding the person (`segment.exited` is published).
    Idempotent on the event id. Someone the segmenter has no profile of (an address the
    messenger knows only from a request) gets none: nothing is recorded."""

    def withdraw(p: Profile) -> Profile:
        channels = CHANNELS if detail.channel == "all" else (detail.channel,)
        category = detail.category if detail.topic is None else topic_consent(detail.topic)
        return p.with_consents(
            tuple(Consent(c, category, False, detail.source, detail.withdrawn_at) for c in channels)
        )

    return _fold_known_profile(ingest, envelope, detail.customer_id, withdraw, "consent withdrawal")


# ---------------------------------------------------------------------------- reads


def get_profile(profiles: ProfileStore, shop_id: str, customer_id: str) -> Profile:
    """A profile by any id the storefront knows it by (merged ids resolve to the survivor)."""
    profile = _live(profiles, shop_id, profiles.get_profile(shop_id, customer_id))
    if profile is None:
        owner = profiles.owner_of(shop_id, Identifier("ext", customer_id))
        profile = _live(profiles, shop_id, profiles.get_profile(shop_id, owner)) if owner else None
    if profile is None:
        raise NotFound("customer not found", field="customer_id")
    return profile


Command = (
    RecordOrder | UpsertCustomer | ChangeOrderStatus | UpdateCart | RecordView | ChangeInventory
)


def check_command(cmd: Command) -> None:
    """What `ingest_command` would refuse before writing anything, checked without
    writing: a batch checks every event first, so a bad one refuses the whole batch."""
    ref: CustomerRef | None = None
    if isinstance(cmd, RecordOrder):
        ref = CustomerRef(cmd.order.customer_id, cmd.contact)
    elif isinstance(cmd, UpsertCustomer | UpdateCart | RecordView):
        ref = cmd.customer
    if ref is not None and not identifiers_of(ref.customer_id, ref.contact):
        raise InvalidInput(
            "name the customer by customer_id, email, phone or line_user_id", field="customer"
        )


HANDLERS: dict[type[Command], Callable[[Any, Ingest], Ingested]] = {
    RecordOrder: record_order,
    UpsertCustomer: upsert_customer,
    ChangeOrderStatus: change_order_status,
    UpdateCart: update_cart,
    RecordView: record_view,
    ChangeInventory: change_inventory,
}
"""Each storefront command's handler: `handler(cmd, deps)`."""
