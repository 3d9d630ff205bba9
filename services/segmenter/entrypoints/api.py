"""Segmenter HTTP API: the app and its Lambda handler. Routes stay thin: parse, make one
call into a use case of the container, shape the output.

Each group of routes is its own module, imported when a request first reaches its paths
(`RouteGroup`): a cold start builds only the group its first request asks for."""

from __future__ import annotations

from mangum import Mangum

from segmenter.entrypoints import deps
from shared.http.app import create_service_app
from shared.http.deferred import RouteGroup
from shared.settings import get_settings

app = create_service_app(
    title="Kizuna segmenter",
    service="segmenter",
    routers=[
        RouteGroup("segmenter.entrypoints.ingest_routes", "/v1/orders", "/v1/events"),
        RouteGroup("segmenter.entrypoints.customer_routes", "/v1/customers"),
        RouteGroup("segmenter.entrypoints.segment_routes", "/v1/segments"),
        RouteGroup("segmenter.entrypoints.analytics_routes", "/v1/analytics"),
        RouteGroup("shared.http.admin", "/v1/admin"),
    ],
    container_factory=deps.build,
    max_body_bytes=lambda: get_settings().max_body_bytes,
)
handler = Mangum(app, lifespan="off")


def reset() -> None:
    """Forget the wired container (the local stack calls this after changing settings)."""
    app.state.container = None
