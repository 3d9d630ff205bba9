"""Request and response models of the segmenter HTTP API (pydantic lives here, at the edge).

Storefronts send events of the types below, one at a time (`POST /v1/events`), up to 500
at a time (`POST /v1/events/batch`), or orders alone (`POST /v1/orders`). Each carries an
`event_id` that makes it idempotent.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from segmenter.domain.model import (
    Attributes,
    ClvScore,
    Consent,
    Contact,
    Order,
    OrderLine,
    Profile,
)
from segmenter.entrypoints.segment_schemas import ID_PATTERN
from shared import clock as shared_clock
from shared.contracts.channels import Channel
from shared.contracts.envelope import EVENT_ID_PATTERN
from shared.errors import Conflict, NotFound
from shared.http.types import Schema, Timestamp

if TYPE_CHECKING:  # the commands and the ingest result, converted here: imported on first use
    from segmenter.domain.commands import (
        ChangeInventory,
        ChangeOrderStatus,
        CustomerRef,
        RecordOrder,
        RecordView,
        UpdateCart,
        UpsertCustomer,
    )
    from segmenter.services.ingest import Ingested

Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
EventId = Annotated[str, Field(pattern=EVENT_ID_PATTERN, description="Idempotency key.")]


class _In(Schema):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def normalise_phone(value: str) -> str:
    """Any common writing of a phone number → E.164 (default region JP)."""
    import phonenumbers  # with the first phone number, not at cold start

    try:
        number = phonenumbers.parse(value, "JP")
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class ConsentIn(_In):
    channel: Channel
    category: Literal["marketing", "transactional"] = "marketing"
    granted: bool
    source: str | None = Field(
        default=None, max_length=64, description="Where it was given, e.g. checkout."
    )
    recorded_at: Timestamp | None = None

    def to_domain(self, default_time: datetime) -> Consent:
        return Consent(
            self.channel, self.category, self.granted, self.source, self.recorded_at or default_time
        )


class CustomerRefIn(_In):
    """Names a person by any identifier the storefront has."""

    customer_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="The storefront's customer id."
    )
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=32, description="Stored as E.164.")
    line_user_id: str | None = Field(default=None, pattern=r"^U[0-9a-f]{32}$")

    @field_validator("phone")
    @classmethod
    def _e164(cls, v: str | None) -> str | None:
        return normalise_phone(v) if v is not None else None

    @model_validator(mode="after")
    def _one_identifier(self) -> CustomerRefIn:
        if not (self.customer_id or self.email or self.phone or self.line_user_id):
            raise ValueError("name the customer by customer_id, email, phone or line_user_id")
        return self

    def contact(self) -> Contact:
        return Contact(
            email=str(self.email).lower() if self.email else None,
            phone=self.phone,
            line_user_id=self.line_user_id,
        )

    def to_ref(self) -> CustomerRef:
        from segmenter.domain.commands import CustomerRef

        return CustomerRef(self.customer_id, self.contact())


class CustomerIn(CustomerRefIn):
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    locale: Literal["ja", "en"] | None = Field(
        default=None, description="Omitted: the profile keeps its locale (ja if never set)."
    )
    consents: list[ConsentIn] = Field(default_factory=list, max_length=10)

    @field_validator("consents")
    @classmethod
    def _opt_in_has_source(cls, v: list[ConsentIn]) -> list[ConsentIn]:
        for consent in v:
            if consent.granted and not consent.source:
                raise ValueError(
                    f"{consent.channel}/{consent.category}: "
                    "source is required when consent is granted"
                )
        return v

    def contact(self) -> Contact:
        base = super().contact()
        return Contact(
            email=base.email,
            phone=base.phone,
            line_user_id=base.line_user_id,
            first_name=self.first_name,
            last_name=self.last_name,
            locale=self.locale,
        )

    def domain_consents(self) -> tuple[Consent, ...]:
        now = shared_clock.now()
        return tuple(c.to_domain(now) for c in self.consents)


class LineItemIn(_In):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=10_000)
    unit_price: Money
    list_price: Money | None = None
    unit_cost: Money | None = None
    category: str | None = Field(default=None, max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=20)

    def to_domain(self) -> OrderLine:
        return OrderLine(
            sku=self.sku,
            quantity=self.quantity,
            unit_price=self.unit_price,
            category=self.category,
            list_price=self.list_price,
            unit_cost=self.unit_cost,
            tags=tuple(self.tags),
        )


class OrderCreate(_In):
    """An order placed in the storefront."""

    type: Literal["order.placed"] = "order.placed"
    event_id: EventId
    order_id: str = Field(pattern=ID_PATTERN)
    placed_at: Timestamp
    currency: str = Field(default="JPY", pattern=r"^[A-Z]{3}$")
    total: Money
    items: list[LineItemIn] = Field(min_length=1, max_length=500)
    customer: CustomerIn
    sales_channel: str | None = Field(default=None, max_length=64)
    coupon: str | None = Field(default=None, max_length=64)

    def to_command(self, shop_id: str) -> RecordOrder:
        from segmenter.domain.commands import RecordOrder

        c = self.customer
        order = Order(
            order_id=self.order_id,
            customer_id=c.customer_id or "",
            placed_at=self.placed_at,
            currency=self.currency,
            total=self.total,
            sales_channel=self.sales_channel,
            coupon=self.coupon,
            lines=tuple(i.to_domain() for i in self.items),
        )
        return RecordOrder(self.event_id, shop_id, order, c.contact(), c.domain_consents())


class CustomerUpsert(_In):
    """A customer created or changed in the storefront (registration, profile edit)."""

    type: Literal["customer.upserted"]
    event_id: EventId
    customer: CustomerIn
    birthday: date | None = None
    gender: Literal["female", "male", "other", "unknown"] | None = None
    prefecture: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA zone. Omitted: the profile keeps its zone (Asia/Tokyo if never set).",
    )
    acquisition_channel: str | None = Field(default=None, max_length=64)
    registered_at: Timestamp | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown IANA time zone") from None
        return v

    @field_validator("birthday")
    @classmethod
    def _plausible_birthday(cls, v: date | None) -> date | None:
        if v is not None and not (date(1900, 1, 1) <= v <= shared_clock.now().date()):
            raise ValueError("birthday must be between 1900-01-01 and today")
        return v

    def to_command(self, shop_id: str) -> UpsertCustomer:
        from segmenter.domain.commands import CustomerRef, UpsertCustomer

        return UpsertCustomer(
            event_id=self.event_id,
            shop_id=shop_id,
            customer=CustomerRef(self.customer.customer_id, self.customer.contact()),
            attributes=Attributes(
                birthday=self.birthday,
                gender=self.gender,
                prefecture=self.prefecture,
                timezone=self.timezone,
                acquisition_channel=self.acquisition_channel,
                created_at=self.registered_at,
            ),
            consents=self.customer.domain_consents(),
        )


class OrderStatusChange(_In):
    type: Literal["order.shipped", "order.delivered", "order.cancelled", "order.returned"]
    event_id: EventId
    order_id: str = Field(pattern=ID_PATTERN)
    at: Timestamp = Field(description="When it was shipped / delivered / cancelled / returned.")
    amount: Money | None = Field(
        default=None,
        gt=0,
        description="order.returned only: the money refunded. Less than what is left of the "
        "order is a partial refund (the order stays, its revenue drops by the amount); "
        "omitted or all of it is a whole-order return.",
    )
    carrier: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_-]{0,31}$",
        description="order.shipped only: `yamato`, `sagawa`, `japanpost` or the shop's code.",
    )
    tracking_number: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9-]{1,40}$",
        description="order.shipped only: the carrier's slip number (for the tracking link).",
    )

    @field_validator("carrier", "tracking_number")
    @classmethod
    def _shipment_on_shipped_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("type") != "order.shipped":
            raise ValueError(f"{info.field_name} is only for order.shipped")
        return value

    @field_validator("amount")
    @classmethod
    def _amount_on_returns_only(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if value is not None and info.data.get("type") != "order.returned":
            raise ValueError("amount is only for order.returned")
        return value

    def to_command(self, shop_id: str) -> ChangeOrderStatus:
        from segmenter.domain.commands import ChangeOrderStatus

        return ChangeOrderStatus(
            self.event_id,
            shop_id,
            self.order_id,
            self.type.removeprefix("order."),
            self.at,
            self.amount,
            self.carrier,
            self.tracking_number,
        )


class CartUpdate(_In):
    type: Literal["cart.updated"]
    event_id: EventId
    customer: CustomerRefIn
    cart_id: str = Field(pattern=ID_PATTERN)
    items: list[LineItemIn] = Field(max_length=500, description="The whole cart; [] = emptied.")
    updated_at: Timestamp

    def to_command(self, shop_id: str) -> UpdateCart:
        from segmenter.domain.commands import UpdateCart

        return UpdateCart(
            self.event_id,
            shop_id,
            self.customer.to_ref(),
            self.cart_id,
            tuple(i.to_domain() for i in self.items),
            self.updated_at,
        )


class ProductView(_In):
    type: Literal["product.viewed"]
    event_id: EventId
    customer: CustomerRefIn
    sku: str = Field(min_length=1, max_length=64)
    category: str | None = Field(default=None, max_length=64)
    viewed_at: Timestamp

    def to_command(self, shop_id: str) -> RecordView:
        from segmenter.domain.commands import RecordView

        return RecordView(
            self.event_id, shop_id, self.customer.to_ref(), self.sku, self.category, self.viewed_at
        )


class InventoryChange(_In):
    type: Literal["inventory.changed"]
    event_id: EventId
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=0, le=100_000_000)
    category: str | None = Field(default=None, max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=20)
    name: str | None = Field(default=None, max_length=200)

    def to_command(self, shop_id: str) -> ChangeInventory:
        from segmenter.domain.commands import ChangeInventory

        return ChangeInventory(
            self.event_id,
            shop_id,
            self.sku,
            self.quantity,
            self.category,
            tuple(self.tags),
            self.name,
        )


class OrderEvent(OrderCreate):
    type: Literal["order.placed"]


EventIn = Annotated[
    OrderEvent | CustomerUpsert | OrderStatusChange | CartUpdate | ProductView | InventoryChange,
    Field(discriminator="type"),
]


class EventBatch(_In):
    events: list[EventIn] = Field(min_length=1, max_length=500)


class IngestedPublic(Schema):
    event_id: str
    type: str
    status: Literal["accepted", "duplicate", "conflict", "not_found"]
    customer_id: str | None = None
    f_stage: str | None = None
    error: dict[str, Any] | None = None

    @classmethod
    def of(cls, result: Ingested) -> IngestedPublic:
        return cls(
            event_id=result.event_id,
            type=result.event_type,
            status="duplicate" if result.duplicate else "accepted",
            customer_id=result.customer_id,
            f_stage=result.profile.f_stage if result.profile else None,
        )

    @classmethod
    def refused(cls, event: EventIn, err: NotFound | Conflict) -> IngestedPublic:
        return cls(
            event_id=event.event_id,
            type=event.type,
            status="not_found" if isinstance(err, NotFound) else "conflict",
            error={"code": err.code, "message": err.message, "field": err.field},
        )


class BatchResult(Schema):
    accepted: int
    duplicates: int
    failed: int
    results: list[IngestedPublic]

    @classmethod
    def of(
        cls, events: list[EventIn], outcomes: list[Ingested | NotFound | Conflict]
    ) -> BatchResult:
        from segmenter.services.ingest import Ingested

        results = [
            IngestedPublic.of(o) if isinstance(o, Ingested) else IngestedPublic.refused(e, o)
            for e, o in zip(events, outcomes, strict=True)
        ]
        return cls(
            accepted=sum(1 for r in results if r.status == "accepted"),
            duplicates=sum(1 for r in results if r.status == "duplicate"),
            failed=sum(1 for r in results if r.status in ("conflict", "not_found")),
            results=results,
        )


class OrderRecordedPublic(Schema):
    event_id: str
    order_id: str
    customer_id: str | None
    duplicate: bool
    f_stage: str | None

    @classmethod
    def of(cls, result: Ingested, order_id: str) -> OrderRecordedPublic:
        return cls(
            event_id=result.event_id,
            order_id=order_id,
            customer_id=result.customer_id,
            duplicate=result.duplicate,
            f_stage=result.profile.f_stage if result.profile else None,
        )


class ConsentPublic(Schema):
    model_config = ConfigDict(from_attributes=True)
    channel: str
    category: str
    granted: bool
    source: str | None
    recorded_at: datetime


def _clv(score: ClvScore | None) -> dict[str, Any] | None:
    if score is None:
        return None
    return {**asdict(score), "predicted_next_order_at": score.predicted_next_order_at.isoformat()}


class ProfilePublic(Schema):
    customer_id: str
    email: str | None
    phone: str | None
    line_user_id: str | None
    first_name: str | None
    last_name: str | None
    locale: str
    timezone: str
    f_stage: str
    order_count: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    revenue: Decimal
    gross_profit: Decimal
    average_order_value: Decimal
    average_interval_days: float | None
    expected_next_order_at: datetime | None
    categories: list[str]
    sale_ratio: float | None
    buyer_type: Literal["sale", "full_price"] | None
    active_hour: int | None
    active_period: str | None
    last_viewed_at: datetime | None
    last_carted_at: datetime | None
    cart_skus: list[str]
    last_shipped_at: datetime | None
    birthday: date | None
    age_band: str | None
    gender: str | None
    prefecture: str | None
    acquisition_channel: str | None
    first_offer: str | None
    first_product: str | None = None
    """The SKU of the first order's first line (the LTV report's first product)."""
    rfm: dict[str, Any] | None
    clv: dict[str, Any] | None
    """Predictive CLV from the last analytics pass (nightly): p_alive, expected_purchases_90d,
    expected_purchases_365d, predicted_clv_365d, predicted_next_order_at."""
    segments: list[str]
    preferences: dict[str, list[str]]
    tags: list[str]
    """Tags journeys put on the person (their tag steps)."""
    consents: list[ConsentPublic]
    merged_ids: list[str]
    """Ids of profiles found to be this person and merged into it; each still resolves
    here. Each merge was published as `customer.merged`."""

    @classmethod
    def of(cls, p: Profile) -> ProfilePublic:
        s = p.stats
        today = shared_clock.now().astimezone(p.zone).date()
        ratio = s.sale_ratio
        return cls(
            customer_id=p.customer_id,
            email=p.contact.email,
            phone=p.contact.phone,
            line_user_id=p.contact.line_user_id,
            first_name=p.contact.first_name,
            last_name=p.contact.last_name,
            locale=p.locale,
            timezone=p.timezone,
            f_stage=p.f_stage,
            order_count=s.order_count,
            first_order_at=s.first_order_at,
            last_order_at=s.last_order_at,
            revenue=s.revenue,
            gross_profit=s.gross_profit,
            average_order_value=s.average_order_value,
            average_interval_days=s.average_interval_days,
            expected_next_order_at=s.expected_next_order_at,
            categories=sorted(s.categories),
            sale_ratio=ratio,
            buyer_type=None if ratio is None else ("sale" if ratio >= 0.5 else "full_price"),
            active_hour=s.active_hour,
            active_period=s.active_period,
            last_viewed_at=p.last_viewed_at,
            last_carted_at=p.last_carted_at,
            cart_skus=list(p.cart_skus),
            last_shipped_at=p.last_shipped_at,
            birthday=p.attributes.birthday,
            age_band=p.age_band(today),
            gender=p.attributes.gender,
            prefecture=p.attributes.prefecture,
            acquisition_channel=p.attributes.acquisition_channel or s.first_sales_channel,
            first_offer=s.first_offer,
            first_product=s.first_product,
            rfm={"r": p.rfm.r, "f": p.rfm.f, "m": p.rfm.m, "rank": p.rfm.rank} if p.rfm else None,
            clv=_clv(p.clv),
            segments=sorted(p.segments),
            preferences={k: sorted(v) for k, v in p.preferences.items()},
            tags=sorted(p.tags),
            consents=[ConsentPublic.model_validate(c) for c in p.consents],
            merged_ids=sorted(p.merged_ids),
        )


class OrderLinePublic(Schema):
    model_config = ConfigDict(from_attributes=True)
    sku: str
    quantity: int
    unit_price: Decimal
    category: str | None


class OrderPublic(Schema):
    order_id: str
    customer_id: str
    placed_at: datetime
    status: str
    currency: str
    total: Decimal
    refunded: Decimal
    """Given back by partial refunds; the order's revenue is total − refunded."""
    sales_channel: str | None
    items: list[OrderLinePublic] = Field(validation_alias="lines")
    """Read from the order's `lines` (`OrderPublic.model_validate(order)`)."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class ProfilesPage(Schema):
    customers: list[ProfilePublic]
    next_cursor: str | None


class RecommendationPublic(Schema):
    model_config = ConfigDict(from_attributes=True)
    sku: str
    reason: str
    score: float


class RuleMatchRequest(Schema):
    """Segment rules to judge one customer by (the messenger's journey filters)."""

    model_config = ConfigDict(extra="forbid")
    rules: list[Any] = Field(description="1 to 20 rules in the segment rule language.")


class RuleMatchesPublic(Schema):
    customer_id: str
    matches: list[bool]
    """One answer per rule, in order."""
