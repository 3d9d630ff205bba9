"""Builds a service's FastAPI app the same way for every service.

The service's composition root (its container) is created on the first request, not
at import, so a cold start pays only for imports and tests can inject their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth.store import KeyStore
from shared.http.errors import error_body, install_error_handlers
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
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
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


def create_service_app(
    *,
    title: str,
    routers: list[APIRouter],
    container_factory: Callable[[], ServiceContainer],
    max_body_bytes: Callable[[], int],
) -> FastAPI:
    configure_logging()
    app = FastAPI(title=title, version="0.1.0")
    app.state.container_factory = container_factory
    app.state.container = None
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    return app


def container_of(request: Request) -> Any:
    """The app's container, built on first use."""
    state = request.app.state
    if state.container is None:
        state.container = state.container_factory()
    return state.container
