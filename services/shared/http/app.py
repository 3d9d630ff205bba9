"""Builds a service's FastAPI app the same way for every service.

The service's composition root (its container) is created on the first request, not
at import, so a cold start pays only for imports and tests can inject their own.

Each service describes itself at `/v1/openapi/<service>.json` (locally and on AWS, where
the template routes that path to the service's function). Every route declares the
error statuses it can answer, with the one error schema.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from functools import cache
from typing import Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth.store import KeyStore
from shared.http.errors import (
    CatchAll,
    TrackedSend,
    error_body,
    error_response,
    install_error_handlers,
)
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


class RouteGroup(BaseRoute):
    """The routes of one module (its `router`), under its path prefixes, imported when a
    request first reaches one of them: a cold start builds only the routes, schemas and
    dependencies of the group its first request asks for. Each route of the group is
    matched in its order, as if it stood in the app's table in the group's place."""

    def __init__(self, module: str, *prefixes: str) -> None:
        self.module = module
        self.prefixes = prefixes
        self._routes: list[BaseRoute] | None = None

    @property
    def routes(self) -> list[BaseRoute]:
        """The group's routes, imported and prepared on first use."""
        if self._routes is None:
            router: APIRouter = importlib.import_module(self.module).router
            for route in router.routes:
                path = getattr(route, "path", "")
                if not path.startswith(self.prefixes):
                    raise ValueError(f"{self.module}: {path} is outside {self.prefixes}")
                if isinstance(route, APIRoute):
                    declare_errors(route)
            self._routes = list(router.routes)
        return self._routes

    def _match(self, scope: Scope) -> tuple[Match, Scope, BaseRoute | None]:
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if scope["type"] != "http" or not path.startswith(self.prefixes):
            return Match.NONE, {}, None
        partial: tuple[Match, Scope, BaseRoute | None] = (Match.NONE, {}, None)
        for route in self.routes:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return match, child_scope, route
            if match is Match.PARTIAL and partial[2] is None:
                partial = (match, child_scope, route)
        return partial

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope, _ = self._match(scope)
        return match, child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        _, _, route = self._match(scope)
        assert route is not None  # the router hands a request only to a group that matched
        await route.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)


class ServiceApp(FastAPI):
    """A service's app: its route table as a request walks it (`app.router.routes`) holds
    route groups, imported on first use; `routes` (the OpenAPI document, the tests'
    walks over every route) lists every route, each group's in its place."""

    @property
    def routes(self) -> list[BaseRoute]:
        found: list[BaseRoute] = []
        for route in self.router.routes:
            found.extend(route.routes if isinstance(route, RouteGroup) else [route])
        return found


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
) -> FastAPI:
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
        if isinstance(router, RouteGroup):
            app.router.routes.append(router)  # its routes are declared when imported
            continue
        for route in router.routes:
            if isinstance(route, APIRoute):
                declare_errors(route)
        # The routes as the router built them, on the app's own table: `include_router`
        # would build each one a second time (dependencies, response fields) on the first
        # request, which was most of that request's cost in a cold start.
        app.router.routes.extend(router.routes)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(CatchAll)
    return app


_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _calls(dependant: Dependant) -> list[Any]:
    found = [dependant.call]
    for sub in dependant.dependencies:
        found.extend(_calls(sub))
    return found


def _has_params(dependant: Dependant) -> bool:
    if dependant.path_params or dependant.query_params or dependant.header_params:
        return True
    if dependant.body_params:
        return True
    return any(_has_params(sub) for sub in dependant.dependencies)


def declare_errors(route: APIRoute) -> None:
    """Declare in the OpenAPI the error statuses the route can answer (a route's own
    declarations win): 401/403 behind an API key, 404 for a path naming a resource,
    409 for a keyed write, 413 for a body, 422 for any parameter or body."""
    from shared.http.security import authenticated

    statuses: set[int] = set()
    keyed = authenticated in _calls(route.dependant)
    methods = route.methods or set()
    writes = bool(methods & _WRITES)
    if keyed:
        statuses |= {401, 403}
    if route.dependant.path_params:
        statuses.add(404)
    if keyed and writes:
        statuses.add(409)
    if methods & {"POST", "PUT", "PATCH"}:
        statuses.add(413)
    if _has_params(route.dependant):
        statuses.add(422)
    fields = dict(route.response_fields)
    for status in sorted(statuses):
        if status in route.responses:
            continue
        route.responses[status] = error_response(status)
        fields[status] = _response_field(route.responses[status]["model"])
    route.response_fields = fields


@cache
def _response_field(model: type[Any]) -> Any:
    """One response field per error model, shared by every route and status: building one
    (a pydantic TypeAdapter) per route and status was a tenth of an API's cold start."""
    return create_model_field(name=f"Response_{model.__name__}", type_=model, mode="serialization")


def container_of(request: Request) -> Any:
    """The app's container, built on first use."""
    state = request.app.state
    if state.container is None:
        state.container = state.container_factory()
    return state.container


CONTAINER = Depends(container_of)
"""A route's service container, built on first use: `Annotated[XContainer, CONTAINER]`."""
