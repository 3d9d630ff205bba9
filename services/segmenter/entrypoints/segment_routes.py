"""Segmenter HTTP API, segments: the shop's segments, their members and export, and the
RFM settings and grid. A route group of `api.py`, imported when a request first reaches
its paths."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Response
from fastapi.responses import StreamingResponse

from segmenter.entrypoints.deps import Container
from segmenter.entrypoints.segment_schemas import (
    ListedSegmentCreate,
    MembersPage,
    PreviewPublic,
    PreviewRequest,
    RfmConfigIn,
    RfmGridPublic,
    SegmentCreate,
    SegmentPublic,
)
from shared.http.deferred import deferred_router
from shared.http.paging import PAGED_LIST, Page, decode_cursor, encode_cursor
from shared.http.security import SegmentsReader, SegmentsWriter

router = deferred_router(prefix="/v1/segments")


@router.get("/rfm-config")
def get_rfm_config(principal: SegmentsReader, c: Container) -> dict[str, Any]:
    from segmenter.services import segments

    return segments.rfm_config_to(c.segments.rfm_config(principal.shop_id))


@router.put("/rfm-config")
def put_rfm_config(body: RfmConfigIn, principal: SegmentsWriter, c: Container) -> dict[str, Any]:
    from segmenter.services import segments

    config = c.segments.set_rfm_config(principal.shop_id, body.model_dump())
    return segments.rfm_config_to(config)


@router.get("/rfm-grid")
def get_rfm_grid(principal: SegmentsReader, c: Container) -> RfmGridPublic:
    """Customers per R x F cell and per rank; a cell's customers are the preview of
    `{"all": [{"field": "r_score", "op": "eq", "value": R}, {"field": "f_score", ...}]}`."""
    return RfmGridPublic.model_validate(c.segments.rfm_grid(principal.shop_id))


@router.get("", responses=PAGED_LIST)
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


@router.post("/preview")
def preview_segment(body: PreviewRequest, principal: SegmentsReader, c: Container) -> PreviewPublic:
    count, sample = c.segments.preview(principal.shop_id, body.rule, body.sample)
    return PreviewPublic(count=count, sample_customer_ids=sample)


@router.post("", status_code=201)
def create_segment(body: SegmentCreate, principal: SegmentsWriter, c: Container) -> SegmentPublic:
    created = c.segments.create(
        principal.shop_id, body.segment_id, body.name, body.rule, body.description
    )
    return SegmentPublic.model_validate(created)


@router.post("/listed", status_code=201)
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


@router.post("/recompute")
def recompute(principal: SegmentsWriter, c: Container) -> dict[str, Any]:
    return c.segments.refresh(principal.shop_id).as_dict()


@router.get("/{segment_id}")
def get_segment(segment_id: str, principal: SegmentsReader, c: Container) -> SegmentPublic:
    return SegmentPublic.model_validate(c.segments.get(principal.shop_id, segment_id))


@router.delete("/{segment_id}", status_code=204)
def delete_segment(segment_id: str, principal: SegmentsWriter, c: Container) -> Response:
    c.segments.delete(principal.shop_id, segment_id)
    return Response(status_code=204)


@router.get("/{segment_id}/members")
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
    "/{segment_id}/export",
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
