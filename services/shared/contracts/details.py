"""Detail contracts for the events the services exchange.

Past tense: each one states a fact that already happened. Consumers validate the
detail against these models, so a producer cannot silently change a shape.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Channel = Literal["email", "line", "sms"]
Category = Literal["marketing", "transactional"]


class _Detail(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsentSnapshot(_Detail):
    """A channel/category opt-in as recorded, with where and when it was given."""

    channel: Channel
    category: Category = "marketing"
    granted: bool
    source: str | None = None
    recorded_at: AwareDatetime | None = None


class CustomerSnapshot(_Detail):
    """What a messenger needs to reach a customer, as of the event."""

    customer_id: str
    email: str | None = None
    phone: str | None = None
    line_user_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str = "ja"
    consents: list[ConsentSnapshot] = Field(default_factory=list)
    timezone: str | None = Field(
        default=None, description="IANA time zone for quiet hours; the shop's default if unset."
    )
    active_hour: int | None = Field(
        default=None, ge=0, le=23, description="Local hour the person usually reads messages."
    )


class LineItem(_Detail):
    sku: str
    category: str | None = None
    quantity: int
    unit_price: Decimal
    list_price: Decimal | None = None


class CustomerUpserted(_Detail):
    customer: CustomerSnapshot
    birthday: date | None = None


class OrderPlaced(_Detail):
    order_id: str
    customer: CustomerSnapshot
    placed_at: AwareDatetime
    currency: str
    total: Decimal
    items: list[LineItem]
    sales_channel: str | None = None
    order_count: int = Field(ge=1, description="The customer's F-stage after this order.")
    is_first_order: bool


class OrderShipped(_Detail):
    order_id: str
    customer_id: str
    shipped_at: AwareDatetime


class OrderDelivered(_Detail):
    order_id: str
    customer_id: str
    delivered_at: AwareDatetime


class OrderCancelled(_Detail):
    order_id: str
    customer_id: str
    cancelled_at: AwareDatetime


class OrderReturned(_Detail):
    order_id: str
    customer_id: str
    returned_at: AwareDatetime


class CartUpdated(_Detail):
    customer_id: str
    cart_id: str
    items: list[LineItem]
    updated_at: AwareDatetime


class ProductViewed(_Detail):
    customer_id: str
    sku: str
    category: str | None = None
    viewed_at: AwareDatetime


class InventoryChanged(_Detail):
    sku: str
    previous_quantity: int
    quantity: int


class SegmentMembershipChanged(_Detail):
    segment_id: str
    customer_id: str


class MessageSent(_Detail):
    delivery_id: str
    customer_id: str
    channel: Channel
    trigger: str
    campaign_id: str | None = None
    variant: str | None = None


class MessageEngaged(_Detail):
    """An open or a click (the event type tells which)."""

    delivery_id: str
    customer_id: str
    channel: Channel
    campaign_id: str | None = None
    variant: str | None = None
    url: str | None = None


class SurveyAnswered(_Detail):
    survey_id: str
    survey_version: int
    response_id: str
    customer_id: str
    preferences: dict[str, list[str]]
