"""Segmenter HTTP API. Routes stay thin: parse, call one service function, shape output."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from mangum import Mangum

from segmenter import bootstrap, services
from segmenter.bootstrap import SegmenterContainer
from segmenter.entrypoints.schemas import (
    OrderCreate,
    OrderPublic,
    OrderRecordedPublic,
    ProfilePublic,
)
from shared.http import admin
from shared.http.app import container_of, create_service_app
from shared.http.security import EventsWriter, SegmentsReader
from shared.settings import get_settings


def _container(request: Request) -> SegmenterContainer:
    container: SegmenterContainer = container_of(request)
    return container


Container = Annotated[SegmenterContainer, Depends(_container)]

router = APIRouter(prefix="/v1")


@router.post("/orders", status_code=201, responses={200: {"description": "Duplicate event"}})
def post_order(
    body: OrderCreate, principal: EventsWriter, c: Container, response: Response
) -> OrderRecordedPublic:
    result = services.record_order(
        body.to_command(principal.shop_id), c.profiles, c.publisher, c.clock
    )
    if result.duplicate:
        response.status_code = 200
    return OrderRecordedPublic(
        event_id=result.event_id,
        order_id=result.order_id,
        customer_id=result.customer_id,
        duplicate=result.duplicate,
        f_stage=result.profile.f_stage if result.profile else None,
    )


@router.get("/orders/{order_id}")
def get_order(order_id: str, principal: SegmentsReader, c: Container) -> OrderPublic:
    return OrderPublic.of(services.get_order(c.profiles, principal.shop_id, order_id))


@router.get("/customers/{customer_id}")
def get_customer(customer_id: str, principal: SegmentsReader, c: Container) -> ProfilePublic:
    return ProfilePublic.of(services.get_profile(c.profiles, principal.shop_id, customer_id))


@router.get("/customers/{customer_id}/orders")
def get_customer_orders(
    customer_id: str, principal: SegmentsReader, c: Container
) -> list[OrderPublic]:
    orders = services.list_customer_orders(c.profiles, principal.shop_id, customer_id)
    return [OrderPublic.of(o) for o in orders]


app = create_service_app(
    title="Kizuna segmenter",
    routers=[router, admin.router],
    container_factory=bootstrap.build,
    max_body_bytes=lambda: get_settings().max_body_bytes,
)
handler = Mangum(app, lifespan="off")


def reset() -> None:
    """Forget the wired container (the local stack calls this after changing settings)."""
    app.state.container = None
