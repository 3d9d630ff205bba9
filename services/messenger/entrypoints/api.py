"""Messenger HTTP API: delivery log for partner tools, and the no-login unsubscribe page."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from mangum import Mangum
from pydantic import BaseModel

from messenger import bootstrap, services
from messenger.bootstrap import MessengerContainer
from messenger.domain.model import Delivery
from shared.http.app import container_of, create_service_app
from shared.http.security import MessagesReader
from shared.settings import get_settings


def _container(request: Request) -> MessengerContainer:
    container: MessengerContainer = container_of(request)
    return container


Container = Annotated[MessengerContainer, Depends(_container)]


class DeliveryPublic(BaseModel):
    delivery_id: str
    trigger: str
    customer_id: str
    anchor: str
    channel: str
    category: str
    status: str
    skip_reason: str | None
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, d: Delivery) -> DeliveryPublic:
        return cls(
            delivery_id=d.delivery_id,
            trigger=d.key.trigger,
            customer_id=d.key.customer_id,
            anchor=d.key.anchor,
            channel=d.channel,
            category=d.category,
            status=d.status.value,
            skip_reason=d.skip_reason,
            created_at=d.created_at,
            sent_at=d.sent_at,
        )


router = APIRouter()


@router.get("/v1/deliveries")
def get_deliveries(
    principal: MessagesReader,
    c: Container,
    customer_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryPublic]:
    found = services.list_deliveries(c.deliveries, principal.shop_id, customer_id, limit)
    return [DeliveryPublic.of(d) for d in found]


_PAGE = """<!doctype html><html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">
{body}</body></html>"""


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, c: Container) -> HTMLResponse:
    """Shows a confirm button: link scanners follow GETs, so a GET never unsubscribes."""
    services.read_unsubscribe_link(c.settings.signing_secret.get_secret_value(), token)
    body = (
        "<h1>配信停止 / Unsubscribe</h1><p>今後のお知らせメールを停止しますか？<br>"
        "Stop receiving marketing email from us?</p>"
        f'<form method="post" action="/u/{escape(token)}">'
        '<button type="submit" name="List-Unsubscribe" value="One-Click">配信停止する / Unsubscribe'
        "</button></form>"
    )
    return HTMLResponse(_PAGE.format(title="配信停止", body=body))


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe_one_click(token: str, c: Container) -> HTMLResponse:
    """RFC 8058 one-click: mail clients POST `List-Unsubscribe=One-Click` here."""
    services.unsubscribe(c.deliveries, c.settings.signing_secret.get_secret_value(), token)
    body = "<h1>配信を停止しました</h1><p>You have been unsubscribed.</p>"
    return HTMLResponse(_PAGE.format(title="配信停止", body=body))


app = create_service_app(
    title="Kizuna messenger",
    routers=[router],
    container_factory=bootstrap.build,
    max_body_bytes=lambda: get_settings().max_body_bytes,
)
handler = Mangum(app, lifespan="off")


def reset() -> None:
    app.state.container = None
