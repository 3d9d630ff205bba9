"""Segmenter HTTP API. Routes stay thin: parse, make one call into a use case of the
container, shape the output."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from mangum import Mangum
from pydantic import Field

from segmenter.entrypoints import analytics_routes, deps
from segmenter.entrypoints.deps import Container
from segmenter.entrypoints.schemas import (
    BatchResult,
    EventBatch,
    EventIn,
    IngestedPublic,
    ListedSegmentCreate,
    MembersPage,
    OrderCreate,
    OrderPublic,
    OrderRecordedPublic,
    PreviewPublic,
    PreviewRequest,
    ProfilePublic,
    ProfilesPage,
    RecommendationPublic,
    RfmConfigIn,
    RfmGridPublic,
    RuleMatchesPublic,
    RuleMatchRequest,
    SegmentCreate,
    SegmentPublic,
)
from shared.http import admin
from shared.http.app import create_service_app
from shared.http.paging import (
    PAGED_LIST,
    Page,
    decode_cursor,
    encode_cursor,
)
from shared.http.security import Admin, EventsWriter, SegmentsReader, SegmentsWriter
from shared.settings import get_settings

router = APIRouter(prefix="/v1")


# ---------------------------------------------------------------------------- ingest


@router.post("/orders", status_code=201, responses={200: {"description": "Duplicate event"}})
def post_order(
    body: OrderCreate, principal: EventsWriter, c: Container, response: Response
) -> OrderRecordedPublic:
    result = c.ingest.handle(body.to_command(principal.shop_id))
    if result.duplicate:
        response.status_code = 200
    return OrderRecordedPublic.of(result, body.order_id)


@router.post("/events", status_code=201, responses={200: {"description": "Duplicate event"}})
def post_event(
    body: Annotated[EventIn, Field(discriminator="type")],
    principal: EventsWriter,
    c: Container,
    response: Response,
) -> IngestedPublic:
    result = c.ingest.handle(body.to_command(principal.shop_id))
    if result.duplicate:
        response.status_code = 200
    return IngestedPublic.of(result)


@router.post("/events/batch")
def post_events_batch(body: EventBatch, principal: EventsWriter, c: Container) -> BatchResult:
    """Up to 500 events. The whole batch is validated first (a bad one refuses the batch,
    naming `events.<i>.<field>`); then each event is applied on its own, so a conflict in
    one does not undo the others."""
    outcomes = c.ingest.batch([event.to_command(principal.shop_id) for event in body.events])
    return BatchResult.of(body.events, outcomes)


# ---------------------------------------------------------------------------- reads


# Ids may hold "/" (Shopify's `gid://shopify/Customer/1`), so the id segments of these
# paths are `:path` (raw or %2F-encoded); the routes with a suffix come first.


@router.get("/orders/{order_id:path}")
def get_order(order_id: str, principal: SegmentsReader, c: Container) -> OrderPublic:
    return OrderPublic.model_validate(c.customers.order(principal.shop_id, order_id))


@router.get("/customers")
def list_customers(
    principal: SegmentsReader,
    c: Container,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> ProfilesPage:
    found, after = c.customers.page(principal.shop_id, limit, decode_cursor(cursor))
    return ProfilesPage(
        customers=[ProfilePublic.of(p) for p in found],
        next_cursor=encode_cursor(after) if after else None,
    )


@router.get("/customers/{customer_id:path}/orders", responses=PAGED_LIST)
def get_customer_orders(
    customer_id: str,
    principal: SegmentsReader,
    c: Container,
    page: Page,
) -> list[OrderPublic]:
    """The customer's orders, oldest first, one page at a time (`X-Next-Cursor` →
    `cursor`)."""
    orders, after = c.customers.orders_page(
        principal.shop_id, customer_id, page.limit, page.position
    )
    page.next(after)
    return [OrderPublic.model_validate(o) for o in orders]


@router.get("/customers/{customer_id:path}/recommendations")
def get_recommendations(
    customer_id: str,
    principal: SegmentsReader,
    c: Container,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[RecommendationPublic]:
    found = c.customers.recommendations(principal.shop_id, customer_id, limit)
    return [RecommendationPublic.model_validate(r) for r in found]


@router.post("/customers/{customer_id:path}/matches")
def match_rules(
    customer_id: str, body: RuleMatchRequest, principal: SegmentsReader, c: Container
) -> RuleMatchesPublic:
    """Whether the customer's profile satisfies each rule now (one answer per rule): what
    the messenger asks before a journey lets someone in or sends them a step."""
    found = c.customers.matches(principal.shop_id, customer_id, body.rules, c.clock())
    return RuleMatchesPublic(customer_id=customer_id, matches=found)


@router.get("/customers/{customer_id:path}/export")
def export_customer(customer_id: str, principal: Admin, c: Container) -> dict[str, Any]:
    """Disclosure (APPI 開示請求, GDPR access): everything the segmenter holds on the
    person, as stored: the profile, the profiles merged into it, the orders. The
    messenger and feedback services answer `/v1/messenger/customers/{id}/export` and
    `/v1/feedback/customers/{id}/export` for their part."""
    return {"service": "segmenter", **c.rights.export(principal.shop_id, customer_id)}


@router.get("/customers/{customer_id:path}/erasure")
def get_erasure(customer_id: str, principal: Admin, c: Container) -> dict[str, Any]:
    """The segmenter's status of the person's erasure (who asked, when, what was removed;
    no personal data). Its `erasure_id` reads each other service's part:
    `/v1/messenger/erasures/{id}`, `/v1/feedback/erasures/{id}`."""
    return c.rights.erasure_of(principal.shop_id, customer_id).public()


@router.get("/customers/{customer_id:path}")
def get_customer(customer_id: str, principal: SegmentsReader, c: Container) -> ProfilePublic:
    return ProfilePublic.of(c.customers.get(principal.shop_id, customer_id))


@router.delete("/customers/{customer_id:path}", status_code=202)
def erase_customer(customer_id: str, principal: Admin, c: Container) -> dict[str, Any]:
    """Erasure (APPI, GDPR): the profile, identity claims and memberships are removed, the
    orders kept anonymised for the shop's statistics, and `customer.erased` asks every
    other service to forget the person. Repeating it is the same erasure (it resumes one
    a failure interrupted). Each service's status: `GET /v1/customers/{id}/erasure`."""
    return c.rights.erase(principal.shop_id, customer_id, principal.key_id).public()


# ---------------------------------------------------------------------------- segments


@router.get("/segments/rfm-config")
def get_rfm_config(principal: SegmentsReader, c: Container) -> dict[str, Any]:
    from segmenter.services import segments

    return segments.rfm_config_to(c.segments.rfm_config(principal.shop_id))


@router.put("/segments/rfm-config")
def put_rfm_config(body: RfmConfigIn, principal: SegmentsWriter, c: Container) -> dict[str, Any]:
    from segmenter.services import segments

    config = c.segments.set_rfm_config(principal.shop_id, body.model_dump())
    return segments.rfm_config_to(config)


@router.get("/segments/rfm-grid")
def get_rfm_grid(principal: SegmentsReader, c: Container) -> RfmGridPublic:
    """Customers per R x F cell and per rank; a cell's customers are the preview of
    `{"all": [{"field": "r_score", "op": "eq", "value": R}, {"field": "f_score", ...}]}`."""
    return RfmGridPublic.model_validate(c.segments.rfm_grid(principal.shop_id))


@router.get("/segments", responses=PAGED_LIST)
def list_segments(
    principal: SegmentsReader,
    c: Container,
    page: Page,
) -> list[SegmentPublic]:
    """The built-in segments, then the shop's own by id, one page at a time
    (`X-Next-Cursor` → `cursor`)."""
    found, after = c.segments.page(principal.shop_id, page.limit, page.position)
    page.next(after)
    return [SegmentPublic.model_validate(d) for d in found]


@router.post("/segments/preview")
def preview_segment(body: PreviewRequest, principal: SegmentsReader, c: Container) -> PreviewPublic:
    count, sample = c.segments.preview(principal.shop_id, body.rule, body.sample)
    return PreviewPublic(count=count, sample_customer_ids=sample)


@router.post("/segments", status_code=201)
def create_segment(body: SegmentCreate, principal: SegmentsWriter, c: Container) -> SegmentPublic:
    created = c.segments.create(
        principal.shop_id, body.segment_id, body.name, body.rule, body.description
    )
    return SegmentPublic.model_validate(created)


@router.post("/segments/listed", status_code=201)
def create_listed_segment(
    body: ListedSegmentCreate, principal: SegmentsWriter, c: Container
) -> SegmentPublic:
    """A segment of exactly the customers listed (what a drill-down of another service
    showed: `GET /v1/campaigns/{id}/customers`, every page): stored at once as `tagging`,
    its customers tagged by the event function like a saved analytics cell's."""
    created = c.segments.create_listed(
        principal.shop_id, body.segment_id, body.name, body.description, body.customer_ids
    )
    return SegmentPublic.model_validate(created)


@router.post("/segments/recompute")
def recompute(principal: SegmentsWriter, c: Container) -> dict[str, Any]:
    return c.segments.refresh(principal.shop_id).as_dict()


@router.get("/segments/{segment_id}")
def get_segment(segment_id: str, principal: SegmentsReader, c: Container) -> SegmentPublic:
    return SegmentPublic.model_validate(c.segments.get(principal.shop_id, segment_id))


@router.delete("/segments/{segment_id}", status_code=204)
def delete_segment(segment_id: str, principal: SegmentsWriter, c: Container) -> Response:
    c.segments.delete(principal.shop_id, segment_id)
    return Response(status_code=204)


@router.get("/segments/{segment_id}/members")
def segment_members(
    segment_id: str,
    principal: SegmentsReader,
    c: Container,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> MembersPage:
    ids, after = c.segments.members(principal.shop_id, segment_id, limit, decode_cursor(cursor))
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
    from segmenter.services import audience

    members = c.segments.member_profiles(principal.shop_id, segment_id)
    return StreamingResponse(
        audience.export_rows(members, format == "hashed"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{segment_id}-{format}.csv"'},
    )


app = create_service_app(
    title="Kizuna segmenter",
    service="segmenter",
    routers=[router, analytics_routes.router, admin.router],
    container_factory=deps.build,
    max_body_bytes=lambda: get_settings().max_body_bytes,
)
handler = Mangum(app, lifespan="off")


def reset() -> None:
    """Forget the wired container (the local stack calls this after changing settings)."""
    app.state.container = None
