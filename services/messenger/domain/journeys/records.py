"""What the journey store keeps about a journey besides its versions' JSON, and the
counters and re-entry guards its writes carry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class JourneyHead:
    """A journey's head: its name, status and latest version, and the event types that
    enrol or concern it (read on every event, so it holds no definition)."""

    shop_id: str
    journey_id: str
    name: str
    status: str
    version: int
    enrols_on: frozenset[str]
    listens_to: frozenset[str]
    created_at: datetime
    updated_at: datetime
    rev: int = 0


@dataclass(frozen=True)
class Counter:
    """Numbers to add to one counter item, e.g. `{"entered": 1}`."""

    scope: str
    """`J` for the journey as a whole, `S#<step>` for one step."""
    values: Mapping[str, int | Decimal]


@dataclass(frozen=True)
class Guard:
    """The re-entry record written with a new enrolment. `not_since` set: it may replace
    one older than that (once per N days); None: it must not exist yet."""

    key: str
    not_since: datetime | None = None


def stamp(at: datetime) -> str:
    """A sortable UTC timestamp (fixed width, so string order is time order)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AlreadyEntered(Exception):
    """The re-entry rule refused: this person entered before (or the enrolment exists)."""


class StaleEnrolment(Exception):
    """Someone else recorded this step (or changed the enrolment) first."""


def order_facts(detail: Mapping[str, Any]) -> dict[str, Any]:
    """What the journeys keep of an order (`order.placed` or `order.imported`, as JSON):
    its `order.*` fields for filters, and the person's history the slots read (the
    win-back's first order, the replenishment interval, the F-stage)."""
    items = detail.get("items")
    return {
        "order.order_id": detail.get("order_id"),
        "order.order_count": detail.get("order_count"),
        "order.is_first_order": detail.get("is_first_order", detail.get("order_count") == 1),
        "order.total": detail.get("total"),
        "order.sales_channel": detail.get("sales_channel"),
        "order.placed_at": detail.get("placed_at"),
        "order.skus": [i.get("sku") for i in items or [] if isinstance(i, Mapping)],
    }
