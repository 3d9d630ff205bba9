"""Segmenter HTTP API, ingest: orders and events a storefront sends, and an order read
back. A route group of `api.py`, imported when a request first reaches its paths."""

from __future__ import annotations

from typing import Annotated

from fastapi import Response
from pydantic import Field

from segmenter.entrypoints.deps import Container
from segmenter.entrypoints.schemas import (
    BatchResult,
    EventBatch,
    EventIn,
    IngestedPublic,
    OrderCreate,
    OrderPublic,
    OrderRecordedPublic,
)
from shared.http.deferred import deferred_router
from shared.http.security import EventsWriter, SegmentsReader

router = deferred_router(prefix="/v1")


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


# An order's id may hold "/" (Shopify's `gid://shopify/Order/1`), so its segment is
# `:path` (raw or %2F-encoded).


@router.get("/orders/{order_id:path}")
def get_order(order_id: str, principal: SegmentsReader, c: Container) -> OrderPublic:
    return OrderPublic.model_validate(c.customers.order(principal.shop_id, order_id))
