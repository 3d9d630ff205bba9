"""Segmenter HTTP API. Routes stay thin: parse, call one service function, shape output."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from mangum import Mangum
from pydantic import BaseModel, ConfigDict, Field

from segmenter import bootstrap, services
from segmenter.adapters.repository import SegmentDefinition
from segmenter.domain.segments import rfm
from segmenter.entrypoints import analytics_routes
from segmenter.entrypoints.deps import Container
from segmenter.entrypoints.schemas import (
    EventBatch,
    EventIn,
    IngestedPublic,
    OrderCreate,
    OrderPublic,
    OrderRecordedPublic,
    ProfilePublic,
)
from segmenter.services import audience, segments
from shared.errors import InvalidInput, KizunaError
from shared.http import admin
from shared.http.app import create_service_app
from shared.http.errors import status_for
from shared.http.paging import (
    DEFAULT_PAGE,
    PAGED_LIST,
    PageCursor,
    PageLimit,
    decode_cursor,
    encode_cursor,
    set_next_cursor,
)
from shared.http.security import EventsWriter, SegmentsReader, SegmentsWriter
from shared.settings import get_settings

router = APIRouter(prefix="/v1")


def _public(result: services.Ingested) -> IngestedPublic:
    return IngestedPublic(
        event_id=result.event_id,
        type=result.event_type,
        status="duplicate" if result.duplicate else "accepted",
        customer_id=result.customer_id,
        f_stage=result.profile.f_stage if result.profile else None,
    )


# ---------------------------------------------------------------------------- ingest


@router.post("/orders", status_code=201, responses={200: {"description": "Duplicate event"}})
def post_order(
    body: OrderCreate, principal: EventsWriter, c: Container, response: Response
) -> OrderRecordedPublic:
    result = services.ingest_command(body.to_command(principal.shop_id), c.ingest)
    if result.duplicate:
        response.status_code = 200
    return OrderRecordedPublic(
        event_id=result.event_id,
        order_id=body.order_id,
        customer_id=result.customer_id,
        duplicate=result.duplicate,
        f_stage=result.profile.f_stage if result.profile else None,
    )


@router.post("/events", status_code=201, responses={200: {"description": "Duplicate event"}})
def post_event(
    body: Annotated[EventIn, Field(discriminator="type")],
    principal: EventsWriter,
    c: Container,
    response: Response,
) -> IngestedPublic:
    result = services.ingest_command(body.to_command(principal.shop_id), c.ingest)
    if result.duplicate:
        response.status_code = 200
    return _public(result)


class BatchResult(BaseModel):
    accepted: int
    duplicates: int
    failed: int
    results: list[IngestedPublic]


@router.post("/events/batch")
def post_events_batch(body: EventBatch, principal: EventsWriter, c: Container) -> BatchResult:
    """Up to 500 events. The whole batch is validated first (a bad one refuses the batch,
    naming `events.<i>.<field>`); then each event is applied on its own, so a conflict in
    one does not undo the others."""
    commands = [event.to_command(principal.shop_id) for event in body.events]
    for i, command in enumerate(commands):
        try:
            services.check_command(command)
        except InvalidInput as err:
            field = f"events.{i}.{err.field}" if err.field else f"events.{i}"
            raise InvalidInput(err.message, field=field) from None
    results = []
    for event, command in zip(body.events, commands, strict=True):
        try:
            results.append(_public(services.ingest_command(command, c.ingest)))
        except KizunaError as err:
            status: Literal["conflict", "not_found"] = (
                "not_found" if status_for(err) == 404 else "conflict"
            )
            if status_for(err) not in (404, 409):
                raise
            results.append(
                IngestedPublic(
                    event_id=event.event_id,
                    type=event.type,
                    status=status,
                    error={"code": err.code, "message": err.message, "field": err.field},
                )
            )
    return BatchResult(
        accepted=sum(1 for r in results if r.status == "accepted"),
        duplicates=sum(1 for r in results if r.status == "duplicate"),
        failed=sum(1 for r in results if r.status in ("conflict", "not_found")),
        results=results,
    )


# ---------------------------------------------------------------------------- reads


# Ids may hold "/" (Shopify's `gid://shopify/Customer/1`), so the id segments of these
# paths are `:path` (raw or %2F-encoded); the routes with a suffix come first.


@router.get("/orders/{order_id:path}")
def get_order(order_id: str, principal: SegmentsReader, c: Container) -> OrderPublic:
    return OrderPublic.of(services.get_order(c.profiles, principal.shop_id, order_id))


class ProfilesPage(BaseModel):
    customers: list[ProfilePublic]
    next_cursor: str | None


@router.get("/customers")
def list_customers(
    principal: SegmentsReader,
    c: Container,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> ProfilesPage:
    found, after = services.list_profiles(
        c.profiles, principal.shop_id, limit, decode_cursor(cursor)
    )
    return ProfilesPage(
        customers=[ProfilePublic.of(p) for p in found],
        next_cursor=encode_cursor(after) if after else None,
    )


@router.get("/customers/{customer_id:path}/orders", responses=PAGED_LIST)
def get_customer_orders(
    customer_id: str,
    principal: SegmentsReader,
    c: Container,
    response: Response,
    limit: PageLimit = DEFAULT_PAGE,
    cursor: PageCursor = None,
) -> list[OrderPublic]:
    """The customer's orders, oldest first, one page at a time (`X-Next-Cursor` →
    `cursor`)."""
    orders, after = services.customer_orders_page(
        c.profiles, principal.shop_id, customer_id, limit, decode_cursor(cursor, dict)
    )
    set_next_cursor(response, after)
    return [OrderPublic.of(o) for o in orders]


class RecommendationPublic(BaseModel):
    sku: str
    reason: str
    score: float


@router.get("/customers/{customer_id:path}/recommendations")
def get_recommendations(
    customer_id: str,
    principal: SegmentsReader,
    c: Container,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[RecommendationPublic]:
    found = audience.recommendations_for(c.profiles, principal.shop_id, customer_id, limit)
    return [RecommendationPublic(sku=r.sku, reason=r.reason, score=r.score) for r in found]


@router.get("/customers/{customer_id:path}")
def get_customer(customer_id: str, principal: SegmentsReader, c: Container) -> ProfilePublic:
    return ProfilePublic.of(services.get_profile(c.profiles, principal.shop_id, customer_id))


# ---------------------------------------------------------------------------- segments


class SegmentPublic(BaseModel):
    segment_id: str
    name: str
    description: str
    builtin: bool
    rule: dict[str, Any]
    member_count: int | None
    created_at: datetime | None

    @classmethod
    def of(cls, d: SegmentDefinition) -> SegmentPublic:
        return cls(
            segment_id=d.segment_id,
            name=d.name,
            description=d.description,
            builtin=d.builtin,
            rule=d.rule,
            member_count=d.member_count,
            created_at=d.created_at,
        )


class SegmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    segment_id: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    rule: dict[str, Any]


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: dict[str, Any]


class PreviewPublic(BaseModel):
    count: int
    sample_customer_ids: list[str]


class MembersPage(BaseModel):
    segment_id: str
    customer_ids: list[str]
    next_cursor: str | None


class ScoreFloorIn(BaseModel):
    r: int = Field(ge=1, le=5)
    f: int = Field(ge=1, le=5)
    m: int = Field(ge=1, le=5)


class RfmConfigIn(BaseModel):
    """How a shop's customers get R, F, M scores (1-5) and ranks 優良 / 準優良 / 一般 / 休眠."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["quantile", "fixed"] = "quantile"
    recency_days: list[Annotated[int, Field(ge=1, le=rfm.MAX_RECENCY_DAYS)]] = Field(
        default=[30, 90, 180, 365], min_length=4, max_length=4
    )
    frequency: list[Annotated[int, Field(ge=1, le=rfm.MAX_FREQUENCY)]] = Field(
        default=[2, 3, 5, 10], min_length=4, max_length=4
    )
    monetary: list[Annotated[float, Field(gt=0, le=rfm.MAX_MONETARY, allow_inf_nan=False)]] = Field(
        default=[10_000, 30_000, 50_000, 100_000], min_length=4, max_length=4
    )
    loyal: ScoreFloorIn = ScoreFloorIn(r=4, f=4, m=4)
    semi_loyal: ScoreFloorIn = ScoreFloorIn(r=3, f=3, m=3)
    dormant_days: int = Field(default=365, ge=30, le=3650)


@router.get("/segments/rfm-config")
def get_rfm_config(principal: SegmentsReader, c: Container) -> dict[str, Any]:
    return segments.rfm_config_to(segments.get_rfm_config(c.profiles, principal.shop_id))


@router.put("/segments/rfm-config")
def put_rfm_config(body: RfmConfigIn, principal: SegmentsWriter, c: Container) -> dict[str, Any]:
    config = segments.set_rfm_config(c.profiles, principal.shop_id, body.model_dump())
    return segments.rfm_config_to(config)


@router.get("/segments", responses=PAGED_LIST)
def list_segments(
    principal: SegmentsReader,
    c: Container,
    response: Response,
    limit: PageLimit = DEFAULT_PAGE,
    cursor: PageCursor = None,
) -> list[SegmentPublic]:
    """The built-in segments, then the shop's own by id, one page at a time
    (`X-Next-Cursor` → `cursor`)."""
    found, after = segments.segments_page(
        c.profiles, principal.shop_id, limit, decode_cursor(cursor, dict)
    )
    set_next_cursor(response, after)
    return [SegmentPublic.of(d) for d in found]


@router.post("/segments/preview")
def preview_segment(body: PreviewRequest, principal: SegmentsReader, c: Container) -> PreviewPublic:
    count, sample = segments.preview(c.profiles, principal.shop_id, body.rule, c.clock())
    return PreviewPublic(count=count, sample_customer_ids=sample)


@router.post("/segments", status_code=201)
def create_segment(body: SegmentCreate, principal: SegmentsWriter, c: Container) -> SegmentPublic:
    created = segments.create_segment(
        c.profiles,
        c.segments,
        c.publisher,
        principal.shop_id,
        body.segment_id,
        body.name,
        body.rule,
        body.description,
        c.clock(),
    )
    return SegmentPublic.of(created)


@router.post("/segments/recompute")
def recompute(principal: SegmentsWriter, c: Container) -> dict[str, Any]:
    summary = segments.recompute_shop(
        c.profiles, c.segments, c.publisher, principal.shop_id, c.clock()
    )
    audience.rebuild_recommendations(c.profiles, principal.shop_id, c.clock())
    return {
        "profiles": summary.profiles,
        "entered": summary.entered,
        "exited": summary.exited,
        "ranks": summary.ranks,
    }


@router.get("/segments/{segment_id}")
def get_segment(segment_id: str, principal: SegmentsReader, c: Container) -> SegmentPublic:
    return SegmentPublic.of(segments.get_segment(c.profiles, principal.shop_id, segment_id))


@router.delete("/segments/{segment_id}", status_code=204)
def delete_segment(segment_id: str, principal: SegmentsWriter, c: Container) -> Response:
    segments.delete_segment(c.profiles, c.segments, principal.shop_id, segment_id)
    return Response(status_code=204)


@router.get("/segments/{segment_id}/members")
def segment_members(
    segment_id: str,
    principal: SegmentsReader,
    c: Container,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> MembersPage:
    ids, after = segments.members(
        c.profiles, principal.shop_id, segment_id, limit, decode_cursor(cursor)
    )
    return MembersPage(
        segment_id=segment_id,
        customer_ids=ids,
        next_cursor=encode_cursor(after) if after else None,
    )


class CsvStream(StreamingResponse):
    media_type = "text/csv"


@router.get(
    "/segments/{segment_id}/export",
    response_class=CsvStream,
    responses={
        200: {
            "description": "The members as CSV (header row first), UTF-8.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def export_segment(
    segment_id: str,
    principal: SegmentsReader,
    c: Container,
    format: Literal["csv", "hashed"] = "csv",
) -> StreamingResponse:
    segments.get_segment(c.profiles, principal.shop_id, segment_id)
    rows = audience.export_rows(c.profiles, principal.shop_id, segment_id, format == "hashed")
    return StreamingResponse(
        rows,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{segment_id}-{format}.csv"'},
    )


app = create_service_app(
    title="Kizuna segmenter",
    service="segmenter",
    routers=[router, analytics_routes.router, admin.router],
    container_factory=bootstrap.build,
    max_body_bytes=lambda: get_settings().max_body_bytes,
)
handler = Mangum(app, lifespan="off")


def reset() -> None:
    """Forget the wired container (the local stack calls this after changing settings)."""
    app.state.container = None
