"""Request and response models of the segmenter's segment routes (`segment_routes.py`),
apart from the ingest and customer models (`schemas.py`): a cold start's first segment
list builds only these."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from segmenter.domain.segments.rfm_scale import MAX_FREQUENCY, MAX_MONETARY, MAX_RECENCY_DAYS
from shared.http.types import Schema

ID_PATTERN = r"^[A-Za-z0-9._:\-#/@+]{1,128}$"
"""A customer's (or order's) id as the storefront sends it."""


class SegmentPublic(Schema):
    model_config = ConfigDict(from_attributes=True)
    segment_id: str
    name: str
    description: str
    builtin: bool
    rule: dict[str, Any]
    member_count: int | None
    """None while `status` is `computing`. Live: the last recount (`counted_at`) plus every
    entry and exit an event has made since, each counted once however often it arrives."""
    counted_at: datetime | None
    """When a recompute last counted the members (nightly, or on demand); None while
    `computing`."""
    status: Literal["computing", "ready"]
    """`computing` from creation until the recompute it asked for (or the nightly) has
    counted its members; poll `GET /v1/segments/{id}` for `ready`."""
    created_at: datetime | None


class SegmentCreate(Schema):
    model_config = ConfigDict(extra="forbid")
    segment_id: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    rule: dict[str, Any]


MAX_LISTED_CUSTOMERS = 50_000
"""Ids in one listed segment's body (about 2 MB of JSON, inside a Lambda request)."""


class ListedSegmentCreate(Schema):
    """A segment of exactly these customers, as another route listed them (a campaign's
    or a journey's drill-down)."""

    model_config = ConfigDict(extra="forbid")
    segment_id: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    customer_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] = Field(
        min_length=1, max_length=MAX_LISTED_CUSTOMERS
    )


class PreviewRequest(Schema):
    model_config = ConfigDict(extra="forbid")
    rule: dict[str, Any]
    sample: int = Field(
        default=10, ge=0, le=500, description="How many matching customer ids to list."
    )


class RfmGridCellPublic(Schema):
    model_config = ConfigDict(from_attributes=True)
    r: int
    f: int
    customers: int
    revenue: float
    mean_m: float | None


class RfmGridPublic(Schema):
    """Customers per R x F score (5 x 5, R 5..1 then F 1..5) and per rank."""

    model_config = ConfigDict(from_attributes=True)
    cells: list[RfmGridCellPublic]
    ranks: dict[str, int]
    unscored: int


class PreviewPublic(Schema):
    count: int
    sample_customer_ids: list[str]


class MembersPage(Schema):
    segment_id: str
    customer_ids: list[str]
    next_cursor: str | None


class ScoreFloorIn(Schema):
    r: int = Field(ge=1, le=5)
    f: int = Field(ge=1, le=5)
    m: int = Field(ge=1, le=5)


class RfmConfigIn(Schema):
    """How a shop's customers get R, F, M scores (1-5) and ranks 優良 / 準優良 / 一般 / 休眠."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["quantile", "fixed"] = "quantile"
    recency_days: list[Annotated[int, Field(ge=1, le=MAX_RECENCY_DAYS)]] = Field(
        default=[30, 90, 180, 365], min_length=4, max_length=4
    )
    frequency: list[Annotated[int, Field(ge=1, le=MAX_FREQUENCY)]] = Field(
        default=[2, 3, 5, 10], min_length=4, max_length=4
    )
    monetary: list[Annotated[float, Field(gt=0, le=MAX_MONETARY, allow_inf_nan=False)]] = Field(
        default=[10_000, 30_000, 50_000, 100_000], min_length=4, max_length=4
    )
    # The defaults are built without validating (they are valid), so importing this
    # module does not build ScoreFloorIn's validator: a segment list never uses it.
    loyal: ScoreFloorIn = ScoreFloorIn.model_construct(r=4, f=4, m=4)
    semi_loyal: ScoreFloorIn = ScoreFloorIn.model_construct(r=3, f=3, m=3)
    dormant_days: int = Field(default=365, ge=30, le=3650)
