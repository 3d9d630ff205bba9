"""Feedback HTTP API. Survey and restock routes are added by the feedback capability;
the app, its auth and its error mapping are wired now so the HTTP API routes resolve."""

from __future__ import annotations

from mangum import Mangum

from feedback import bootstrap
from shared.http.app import create_service_app
from shared.settings import get_settings

app = create_service_app(
    title="Kizuna feedback",
    routers=[],
    container_factory=bootstrap.build,
    max_body_bytes=lambda: get_settings().max_body_bytes,
)
handler = Mangum(app, lifespan="off")


def reset() -> None:
    app.state.container = None
