"""Detail contracts for the events the services exchange.

Past tense: each one states a fact that already happened. Consumers validate the
detail against these models, so a producer cannot silently change a shape.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.contracts.channels import Channel

Category = Literal["marketing", "transactional"]


class _Detail(BaseModel):
    # Validators built on first use: a function validates the few details it consumes.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


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


class _OrderFacts(_Detail):
    """The facts of an order, shared by `order.placed` and `order.imported` so the two
    cannot drift apart (a consumer keeps either as the same history)."""

    order_id: str
    customer: CustomerSnapshot
    placed_at: AwareDatetime
    currency: str
    total: Decimal
    items: list[LineItem]
    sales_channel: str | None = None
    order_count: int = Field(
        ge=1,
        description="The customer's F-stage after this order (an imported one: as the import "
        "folded the history; on a re-run's re-publish, the profile's count then).",
    )


class OrderPlaced(_OrderFacts):
    is_first_order: bool
    coupon: str | None = Field(
        default=None, max_length=64, description="The coupon code used, if any (redemptions)."
    )


class OrderImported(_OrderFacts):
    """An order of the shop's history, stored by an order import (CSV), not placed now.
    The same facts as `order.placed`, under another name so that nothing takes it for a
    purchase: no welcome, no campaign conversion, no journey exit or goal. A consumer
    keeps it as the person's past (the win-back's first product, a purchase interval).
    Its event id is derived from the order's content: a re-run import re-publishes the
    same id, and a consumer's write must be idempotent."""


class OrderShipped(_Detail):
    order_id: str
    customer_id: str
    shipped_at: AwareDatetime
    carrier: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_-]{0,31}$",
        description="`yamato` (ヤマト運輸), `sagawa` (佐川急便), `japanpost` (日本郵便), or the "
        "shop's own code for another carrier (tracked through the shop's URL template).",
    )
    tracking_number: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9-]{1,40}$", description="The carrier's slip number."
    )


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
    amount: Decimal | None = None
    """The money given back by this return (None from older publishers)."""
    partial: bool = False
    """True: a partial refund, the order stays active with its revenue reduced."""


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


class ConsentWithdrawn(_Detail):
    """A person withdrew their consent through an unsubscribe link the messenger honoured
    (the RFC 8058 one-click POST or the unsubscribe page). Consumers record it on the
    person's consent, so segments built on consent stop holding them. The event id is
    the same for every click on the same unsubscribe: deduplicate on it."""

    customer_id: str
    channel: Channel | Literal["all"] = Field(
        description="The channel unsubscribed from; `all`: every channel."
    )
    category: Category
    topic: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="Set when the person left one topic (step_mails, newsletter, ...) "
        "rather than the whole category: only that topic is withdrawn.",
    )
    withdrawn_at: AwareDatetime
    source: str = Field(
        default="unsubscribe_link", description="How it was withdrawn, kept as the provenance."
    )


class ProfileTagged(_Detail):
    """A journey's tag step put a tag on the person (for the segmenter's profile)."""

    customer_id: str
    tag: str
    journey_id: str


class SurveyAnswered(_Detail):
    survey_id: str
    survey_version: int
    response_id: str
    customer_id: str
    preferences: dict[str, list[str]]


class MessageRecipient(_Detail):
    """Who a requested message goes to: a known customer (the messenger resolves the
    address and checks consent from its own records), or a bare address on the request's
    channel for someone the shop does not know yet (e.g. an anonymous restock sign-up)."""

    customer_id: str | None = None
    address: str | None = Field(
        default=None,
        description="Normalised address on `channel`: lowercase email, E.164 phone, or LINE "
        "user id. Personal data: never log it.",
    )

    @model_validator(mode="after")
    def _someone(self) -> MessageRecipient:
        if not self.customer_id and not self.address:
            raise ValueError("a recipient needs a customer_id or an address")
        return self


class MessageRequested(_Detail):
    """A service asks the messenger to send one message (services never send themselves).

    The envelope's `shop` is the tenant. The messenger renders `template` (in `locale`)
    with `variables`, picks the channel (`channel`, or by its policy when None and the
    recipient is a known customer), applies consent, suppression and, for `marketing`,
    the frequency cap and quiet hours (`transactional` is exempt from the cap, and from
    quiet hours unless the shop's policy sets `quiet_transactional`), and sends it
    at most once per `request_id` — producers re-publish with the same id on retries.
    A request still unsent at `expires_at` must be dropped (e.g. an early-access link
    whose window has closed).

    Templates the feedback service requests (variables are all strings):
    - `restock_confirm` (transactional): sku, product_name, confirm_url, unsubscribe_url
    - `restock_early_access` (marketing): sku, product_name, early_access_url, token,
      valid_until (ISO 8601), unsubscribe_url
    - `survey_invitation` (marketing): survey_id, survey_title, survey_url, expires_at
    """

    request_id: str = Field(
        min_length=1, max_length=128, description="Idempotency key: one send per id."
    )
    recipient: MessageRecipient
    channel: Channel | None = Field(
        default=None, description="Required for an address recipient; None lets policy pick."
    )
    category: Category
    template: str = Field(min_length=1, max_length=64)
    locale: str = "ja"
    variables: dict[str, str] = Field(default_factory=dict)
    expires_at: AwareDatetime | None = None
    requested_by: str = Field(
        description="Producer and purpose, e.g. feedback.restock.early_access (for analytics)."
    )

    @model_validator(mode="after")
    def _address_needs_channel(self) -> MessageRequested:
        if self.recipient.address and self.channel is None:
            raise ValueError("a message to a bare address needs its channel")
        return self


class AnalyticsRefreshRequested(_Detail):
    """`POST /v1/analytics/refresh` was accepted; the analytics function runs the pass."""

    requested_at: AwareDatetime


class SegmentsRecomputeRequested(_Detail):
    """A segment was created: the segmenter's event function recomputes the shop's
    segments (counts and members), so the API call that created it returns at once."""

    segment_id: str
    requested_at: AwareDatetime


class CustomerMerged(_Detail):
    """Two profiles proved to be one person (an event named identifiers each owned): the
    merged-away profiles' orders, history and identifiers now belong to the survivor, and
    their ids resolve to it. Ids only: no contact data travels with a merge."""

    customer_id: str = Field(description="The survivor's id.")
    merged_ids: list[str] = Field(
        min_length=1,
        description="Ids that now resolve to the survivor through this merge: each "
        "merged-away profile and any id merged into it before.",
    )
    caused_by: str = Field(description="The id of the event that proved the link.")


class CustomerErased(_Detail):
    """An admin erased a person (APPI/GDPR erasure). Every service removes or anonymises
    what it holds on these customer ids, idempotently (the same `erasure_id` may arrive
    again), and records its own status under `erasure_id`. Carries no contact data: each
    service finds the person's addresses in its own records."""

    erasure_id: str = Field(min_length=1, max_length=128)
    customer_ids: list[str] = Field(
        min_length=1, description="The erased profile's id and every id merged into it."
    )
    requested_by: str = Field(description="The API key id that asked (the audit trail).")
    requested_at: AwareDatetime
