"""The restock side's record types: what its store keeps besides the domain's own sign-ups
and releases (a module of their own, loaded with the restock code, not a survey list)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SkuSignups:
    """A SKU somebody signed up for, with its sign-ups by status (what the list of SKUs
    shows, so a marketer picks one instead of typing it)."""

    sku: str
    signups: dict[str, int]


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
