"""Builds a service's FastAPI app the same way for every service: `create_service_app`
is the one entry point (its routes are given as deferred routers and route groups, see
`shared/http/deferred.py`).

The service's composition root (its container) is created on the first request, not
at import, so a cold start pays only for imports and tests can inject their own.

Each service describes itself at `/v1/openapi/<service>.json` (locally and on AWS, where
the template routes that path to the service's function). Every route declares the
error statuses it can answer, with the one error schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from fastapi import APIRouter, Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth.store import KeyStore
from shared.http.deferred import RouteGroup, ServiceApp, add_routes
from shared.http.errors import CatchAll, TrackedSend, error_body, install_error_handlers
from shared.log import configure_logging


class ServiceContainer(Protocol):
    """What every service container offers the shared HTTP layer."""

    @property
    def keys(self) -> KeyStore: ...


class BodySizeLimit:
    """Refuses bodies over `max_bytes` with 413 before any route parses them, whether the
    client declares Content-Length or streams chunks."""

    def __init__(self, app: ASGIApp, max_bytes: Callable[[], int]) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self._max_bytes()
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._reject(send, limit)
                return
        seen = 0
        tracked = TrackedSend(send)

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self._app(scope, limited_receive, tracked)
        except _TooLarge:
            if not tracked.started:
                await self._reject(send, limit)

    @staticmethod
    async def _reject(send: Send, limit: int) -> None:
        body = json.dumps(
            error_body("payload_too_large", f"request body exceeds {limit} bytes")
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def openapi_path(service: str) -> str:
    """Where a service serves its OpenAPI document."""
    return f"/v1/openapi/{service}.json"


def create_service_app(
    *,
    title: str,
    service: str,
    routers: list[APIRouter | RouteGroup],
    container_factory: Callable[[], ServiceContainer],
    max_body_bytes: Callable[[], int],
) -> ServiceApp:
    """A service's app, its routes in the order given: routers (`deferred_router()`, each
    route built by FastAPI on its first use) and route groups (a module of routes
    imported when a request first reaches its prefixes)."""
    configure_logging()
    app = ServiceApp(
        title=title,
        version="0.1.0",
        openapi_url=openapi_path(service),
        docs_url=None,
        redoc_url=None,
    )
    app.state.container_factory = container_factory
    app.state.container = None
    install_error_handlers(app)
    for router in routers:
        add_routes(app, router)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(CatchAll)
    return app


def container_of(request: Request) -> Any:
    """The app's container, built on first use."""
    state = request.app.state
    if state.container is None:
        state.container = state.container_factory()
    return state.container


CONTAINER = Depends(container_of)
"""A route's service container, built on first use: `Annotated[XContainer, CONTAINER]`."""
