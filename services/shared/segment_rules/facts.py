"""What the segment engine knows about one customer, and the field catalogue rules may use.

The engine never sees the stored profile: the service maps a profile onto `CustomerFacts`,
so the rule language stays stable while storage changes. Values are read through the
`as_*` coercers, shared by the per-customer evaluator and the columnar batch, so both
agree on what counts as "missing".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType


class FieldType(StrEnum):
    NUMBER = "number"
    STRING = "string"
    DATE = "date"
    DATETIME = "datetime"
    SET = "set"
    BOOL = "bool"


class ActivityKind(StrEnum):
    BOUGHT = "bought"
    VIEWED = "viewed"
    CARTED = "carted"
    OPENED = "opened"
    CLICKED = "clicked"
    SHIPPED = "shipped"


ACTIVITY_KINDS: frozenset[str] = frozenset(ActivityKind)

ACTIVITY_HISTORY_DAYS: Mapping[str, int] = MappingProxyType(
    {
        ActivityKind.BOUGHT: 1095,
        ActivityKind.VIEWED: 400,
        ActivityKind.CARTED: 400,
        ActivityKind.OPENED: 400,
        ActivityKind.CLICKED: 400,
        ActivityKind.SHIPPED: 400,
    }
)
"""How far back each kind of activity is kept (its items expire then), so the longest
`within_days` a rule may ask for: purchases three years, the rest about 13 months."""

ACTIVITY_HISTORY_LIMITS: Mapping[str, int] = MappingProxyType(
    {
        ActivityKind.BOUGHT: 1000,
        ActivityKind.VIEWED: 300,
        ActivityKind.CARTED: 200,
        ActivityKind.OPENED: 200,
        ActivityKind.CLICKED: 200,
        ActivityKind.SHIPPED: 200,
    }
)
"""The most recent activities rules read per kind (each is its own item, beside the
profile): bounds what an event reads. Capped per kind, so a burst of product views never
pushes a purchase out."""

_N, _S, _D, _T, _SET, _B = (
    FieldType.NUMBER,
    FieldType.STRING,
    FieldType.DATE,
    FieldType.DATETIME,
    FieldType.SET,
    FieldType.BOOL,
)

FIELD_CATALOG: Mapping[str, FieldType] = MappingProxyType(
    {
        # numbers
        "order_count": _N,
        "revenue": _N,
        "gross_profit": _N,
        "average_order_value": _N,
        "average_interval_days": _N,
        "sale_ratio": _N,
        "active_hour": _N,
        "age": _N,
        "cart_size": _N,
        "r_score": _N,
        "f_score": _N,
        "m_score": _N,
        "p_alive": _N,
        "expected_purchases_90d": _N,
        "expected_purchases_365d": _N,
        "predicted_clv_365d": _N,
        # strings
        "f_stage": _S,
        "rfm_rank": _S,
        "gender": _S,
        "prefecture": _S,
        "age_band": _S,
        "acquisition_channel": _S,
        "first_offer": _S,
        "first_product": _S,
        "last_sales_channel": _S,
        # datetimes (aware)
        "first_order_at": _T,
        "last_order_at": _T,
        "last_shipped_at": _T,
        "last_viewed_at": _T,
        "last_carted_at": _T,
        "expected_next_order_at": _T,
        "predicted_next_order_at": _T,
        "created_at": _T,
        # dates
        "birthday": _D,
        # sets of strings
        "categories": _SET,
        "skus": _SET,
        "consents": _SET,
        "unsubscribed_topics": _SET,
        "tags": _SET,
        # booleans
        "has_email": _B,
        "has_phone": _B,
        "has_line": _B,
    }
)
"""Every profile field a rule may name, with its type. Consents read "channel:category",
e.g. "email:marketing"; unsubscribed_topics holds the topics a person left through an
unsubscribe link (step_mails, newsletter, ...), so `not contains "step_mails"` reads
"may get step mails"; sale_ratio is the share of revenue bought at a discount (0..1);
tags are what journeys' tag steps put on the person (`profile.tagged`);
categories and skus are everything ever bought (active orders); cart_size counts the SKUs
in the current cart. p_alive, expected_purchases_90d/365d, predicted_clv_365d and
predicted_next_order_at are the analytics pass's predictive CLV (missing until a shop has
the history for a fit)."""

CLV_FIELDS = frozenset(
    {
        "p_alive",
        "expected_purchases_90d",
        "expected_purchases_365d",
        "predicted_clv_365d",
        "predicted_next_order_at",
    }
)
"""The fields the analytics pass writes (the profile's ``clv`` block): a segment naming
one is rebuilt right after the pass, not at the next nightly recompute."""


TOPIC_CONSENT_PREFIX = "consent.topic."
"""``consent.topic.<name>`` (bool): true unless the person left that unsubscribe topic
(step_mails, newsletter, ...). It reads `unsubscribed_topics`; combine it with
`consents contains "email:marketing"` for "may get step mails by mail"."""
_TOPIC = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def field_type(name: str) -> FieldType | None:
    """The type of a field a rule may name (the catalogue's, or a topic's consent)."""
    if name in FIELD_CATALOG:
        return FIELD_CATALOG[name]
    if name.startswith(TOPIC_CONSENT_PREFIX) and _TOPIC.fullmatch(
        name.removeprefix(TOPIC_CONSENT_PREFIX)
    ):
        return FieldType.BOOL
    return None


def stored_field(name: str) -> str:
    """The profile field a rule's field is read from (a topic's consent: the topics left)."""
    return "unsubscribed_topics" if name.startswith(TOPIC_CONSENT_PREFIX) else name


def field_value(fields: Mapping[str, object], name: str) -> object:
    """A field's value for a rule, derived fields included."""
    if name.startswith(TOPIC_CONSENT_PREFIX):
        left = fields.get("unsubscribed_topics")
        topics = left if isinstance(left, frozenset | set) else frozenset()
        return name.removeprefix(TOPIC_CONSENT_PREFIX) not in topics
    return fields.get(name)


@dataclass(frozen=True)
class Activity:
    """One thing the customer did; the event history that "bought X in 90 days" reads."""

    kind: str
    at: datetime
    sku: str | None = None
    category: str | None = None
    quantity: int = 1
    amount: Decimal | None = None


@dataclass(frozen=True)
class CustomerFacts:
    customer_id: str
    fields: Mapping[str, object]
    activities: Sequence[Activity] = ()
    preferences: Mapping[str, frozenset[str]] = field(default_factory=dict)


def as_number(value: object) -> float | None:
    """Numbers compare as IEEE doubles everywhere, so the batch (float64) and the
    per-customer evaluator can never disagree on a boundary."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    return None if math.isnan(number) else number  # NaN is "unknown"


def as_string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def as_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def as_datetime(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime facts must be timezone-aware")
    return value


def as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def as_string_set(value: object) -> frozenset[str] | None:
    if isinstance(value, str) or not isinstance(value, set | frozenset | list | tuple):
        return None
    return frozenset(v for v in value if isinstance(v, str))
