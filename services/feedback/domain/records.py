"""The feedback service's record types: what its stores keep besides the domain's own
surveys, responses, sign-ups and releases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SaveOutcome = Literal["created", "duplicate", "conflict"]


@dataclass(frozen=True)
class SurveyHead:
    survey_id: str
    title: str
    latest_version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SkuSignups:
    """A SKU somebody signed up for, with its sign-ups by status (what the list of SKUs
    shows, so a marketer picks one instead of typing it)."""

    sku: str
    signups: dict[str, int]


@dataclass(frozen=True)
class StoredResponse:
    """The idempotency record of a response id."""

    response_id: str
    fingerprint: str
    survey_id: str
    survey_version: int
    customer_id: str
    preferences: dict[str, list[str]]
    answered_at: datetime


@dataclass(frozen=True)
class Notification:
    signup_id: str
    notified_at: datetime
    customer_id: str | None = None
    clicked_at: datetime | None = None
    purchased_order: str | None = None


@dataclass(frozen=True)
class Stock:
    quantity: int
    at: datetime
    release_id: str | None = None
