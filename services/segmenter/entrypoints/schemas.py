"""Request and response models of the segmenter HTTP API (pydantic lives here, at the edge)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

import phonenumbers
from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, field_validator

from segmenter.domain.commands import RecordOrder
from segmenter.domain.model import Consent, Contact, Order, OrderLine, Profile
from shared.contracts.envelope import EVENT_ID_PATTERN

ID_PATTERN = r"^[A-Za-z0-9._:\-#/]{1,128}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ConsentIn(_In):
    channel: Literal["email", "line", "sms"]
    category: Literal["marketing", "transactional"] = "marketing"
    granted: bool
    source: str | None = Field(
        default=None, max_length=64, description="Where it was given, e.g. checkout."
    )
    recorded_at: AwareDatetime | None = None

    def to_domain(self, default_time: datetime) -> Consent:
        return Consent(
            self.channel, self.category, self.granted, self.source, self.recorded_at or default_time
        )


class CustomerIn(_In):
    customer_id: str = Field(pattern=ID_PATTERN, description="The storefront's customer id.")
    email: EmailStr | None = None
    phone: str | None = Field(
        default=None, max_length=32, description="Any format; stored as E.164 (default region JP)."
    )
    line_user_id: str | None = Field(default=None, pattern=r"^U[0-9a-f]{32}$")
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    locale: Literal["ja", "en"] = "ja"
    consents: list[ConsentIn] = Field(default_factory=list, max_length=10)

    @field_validator("phone")
    @classmethod
    def _e164(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            number = phonenumbers.parse(v, "JP")
        except phonenumbers.NumberParseException:
            raise ValueError("not a phone number") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

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


class LineItemIn(_In):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=10_000)
    unit_price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    list_price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    unit_cost: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    category: str | None = Field(default=None, max_length=64)


class OrderCreate(_In):
    """An order placed in the storefront. `event_id` makes the call idempotent."""

    event_id: str = Field(pattern=EVENT_ID_PATTERN)
    order_id: str = Field(pattern=ID_PATTERN)
    placed_at: AwareDatetime
    currency: str = Field(default="JPY", pattern=r"^[A-Z]{3}$")
    total: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    items: list[LineItemIn] = Field(min_length=1, max_length=500)
    customer: CustomerIn
    sales_channel: str | None = Field(default=None, max_length=64)
    coupon: str | None = Field(default=None, max_length=64)

    def to_command(self, shop_id: str) -> RecordOrder:
        now = datetime.now(UTC)
        order = Order(
            order_id=self.order_id,
            customer_id=self.customer.customer_id,
            placed_at=self.placed_at,
            currency=self.currency,
            total=self.total,
            sales_channel=self.sales_channel,
            coupon=self.coupon,
            lines=tuple(
                OrderLine(
                    sku=i.sku,
                    quantity=i.quantity,
                    unit_price=i.unit_price,
                    category=i.category,
                    list_price=i.list_price,
                    unit_cost=i.unit_cost,
                )
                for i in self.items
            ),
        )
        c = self.customer
        contact = Contact(
            email=str(c.email).lower() if c.email else None,
            phone=c.phone,
            line_user_id=c.line_user_id,
            first_name=c.first_name,
            last_name=c.last_name,
            locale=c.locale,
        )
        consents = tuple(x.to_domain(now) for x in c.consents)
        return RecordOrder(self.event_id, shop_id, order, contact, consents)


class ConsentPublic(BaseModel):
    channel: str
    category: str
    granted: bool
    source: str | None
    recorded_at: datetime


class ProfilePublic(BaseModel):
    customer_id: str
    email: str | None
    phone: str | None
    line_user_id: str | None
    first_name: str | None
    last_name: str | None
    locale: str
    f_stage: str
    order_count: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    revenue: Decimal
    average_order_value: Decimal
    categories: list[str]
    consents: list[ConsentPublic]

    @classmethod
    def of(cls, p: Profile) -> ProfilePublic:
        return cls(
            customer_id=p.customer_id,
            email=p.contact.email,
            phone=p.contact.phone,
            line_user_id=p.contact.line_user_id,
            first_name=p.contact.first_name,
            last_name=p.contact.last_name,
            locale=p.contact.locale,
            f_stage=p.f_stage,
            order_count=p.order_count,
            first_order_at=p.first_order_at,
            last_order_at=p.last_order_at,
            revenue=p.revenue,
            average_order_value=p.average_order_value,
            categories=sorted(p.categories),
            consents=[
                ConsentPublic(
                    channel=c.channel,
                    category=c.category,
                    granted=c.granted,
                    source=c.source,
                    recorded_at=c.recorded_at,
                )
                for c in p.consents
            ],
        )


class OrderRecordedPublic(BaseModel):
    event_id: str
    order_id: str
    customer_id: str
    duplicate: bool
    f_stage: str | None


class OrderLinePublic(BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal
    category: str | None


class OrderPublic(BaseModel):
    order_id: str
    customer_id: str
    placed_at: datetime
    currency: str
    total: Decimal
    sales_channel: str | None
    items: list[OrderLinePublic]

    @classmethod
    def of(cls, o: Order) -> OrderPublic:
        return cls(
            order_id=o.order_id,
            customer_id=o.customer_id,
            placed_at=o.placed_at,
            currency=o.currency,
            total=o.total,
            sales_channel=o.sales_channel,
            items=[
                OrderLinePublic(
                    sku=ln.sku, quantity=ln.quantity, unit_price=ln.unit_price, category=ln.category
                )
                for ln in o.lines
            ],
        )
