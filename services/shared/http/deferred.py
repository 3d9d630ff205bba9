"""Routes FastAPI builds on first use, not at import.

Declaring a route makes FastAPI read its endpoint's signature, evaluate its annotations
and build its dependency tree, parameter and response fields and request handler: a
few million instructions a route, most of a service's import. A Lambda's cold start
serves one request, which reaches one route. `DeferredAPIRoute` keeps what the decorator
was given and lets FastAPI build the route, with its own code and the same arguments,
the first time anything asks for more than the route's path:

- a request of the route's method whose path could be the route's (its text before the
  first `{`): the route is built, then matched as FastAPI matches it (a request of
  another method builds it only if it is answered with the route's 405);
- any attribute of a built route (its `dependant`, `methods`, the OpenAPI document
  walking `app.routes`): the route is built, so a walk over `app.routes` sees complete
  `APIRoute`s.

Its error statuses are declared when it is built (`declare_errors`, as
`create_service_app` does for the routes it is given), so `mount` adds the routes to an
app after `create_service_app` instead of through it. `later` defers a decorator
argument that would load or build a model at import (a JSON schema, a response model).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette._utils import get_route_path
from starlette.routing import Match, compile_path
from starlette.types import Receive, Scope, Send

from shared.http.app import declare_errors

T = TypeVar("T")

_PENDING = "_deferred_route"
_BUILDING = threading.RLock()
"""Builds one deferred route at a time (a route built inside another's build takes it again)."""


class _Later:
    """A decorator argument made when the route is built."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


def later(make: Callable[[], T]) -> T:
    """`make()`, called when the route is built (a `DeferredAPIRoute`'s argument)."""
    return cast(T, _Later(make))


class DeferredAPIRoute(APIRoute):
    """An `APIRoute` that FastAPI builds on first use (see the module's docstring)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        self.__dict__[_PENDING] = (path, endpoint, options)

    def _build(self) -> None:
        """FastAPI's own construction, once (two threads may reach the route together)."""
        with _BUILDING:
            pending = self.__dict__.get(_PENDING)
            if not pending:  # built, or being built by this thread
                return
            self.__dict__[_PENDING] = ()
            path, endpoint, options = pending
            made: dict[str, Any] = {
                k: v.make() if isinstance(v, _Later) else v for k, v in options.items()
            }
            try:
                APIRoute.__init__(self, path, endpoint, **made)
                declare_errors(self)
            except BaseException:
                self.__dict__[_PENDING] = pending
                raise
            del self.__dict__[_PENDING]

    def __getattr__(self, name: str) -> Any:
        """Only reached for what the instance lacks: before the build, everything."""
        if _PENDING not in self.__dict__:
            raise AttributeError(name)
        self._build()
        if _PENDING in self.__dict__:  # asked by FastAPI's construction itself
            raise AttributeError(name)
        return getattr(self, name)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        pending = self.__dict__.get(_PENDING)
        if not pending:
            return super().matches(scope)
        path, _, options = pending
        if scope["type"] != "http" or not _may_match(path, get_route_path(scope)):
            return Match.NONE, {}
        if scope["method"] in {m.upper() for m in options.get("methods") or ("GET",)}:
            return super().matches(scope)  # built: it may serve the request
        # Another method's path: at most a partial match, which serves the request (a
        # 405) only when no route matches fully; `handle` builds the route then.
        if compile_path(path)[0].match(get_route_path(scope)) is None:
            return Match.NONE, {}
        return Match.PARTIAL, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("route") is not self:  # partly matched before it was built
            _, child_scope = super().matches(scope)
            scope.update(child_scope)
        await super().handle(scope, receive, send)


def _may_match(path: str, route_path: str) -> bool:
    """Whether a request path could be the route's: its literal text before the first
    parameter (all of it for a path without one)."""
    literal, brace, _ = path.partition("{")
    return route_path.startswith(literal) if brace else route_path == path


def deferred_router() -> APIRouter:
    """A router whose routes are `DeferredAPIRoute`s (add it to an app with `mount`)."""
    return APIRouter(route_class=DeferredAPIRoute)


def mount(app: FastAPI, router: APIRouter) -> None:
    """Put the router's routes ahead of the app's other `APIRoute`s, in their order, as
    `create_service_app` would have had they been its first router."""
    routes = app.router.routes
    first = next((i for i, r in enumerate(routes) if isinstance(r, APIRoute)), len(routes))
    routes[first:first] = router.routes
