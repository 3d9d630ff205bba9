"""A service's routes, built on first use rather than at import, at two levels:

- a route group (`RouteGroup`) defers importing a module of routes (its `router`, a
  `deferred_router()`) until a request first reaches one of its path prefixes: a cold
  start imports only the group its first request asks for, with its schemas and the
  domain they reach;
- a deferred route (`DeferredAPIRoute`) defers FastAPI's building of one route until it
  is first used: within that group (or a service's one module of routes), the first
  request builds only the route it reaches.

`create_service_app` (`shared/http/app.py`) takes both, in the order they are matched.

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

Its error statuses are declared when it is built (`declare_errors`, as `add_routes` does
for a route built at import). `later` defers a decorator argument that would load or
build a model at import (a JSON schema, a response model).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, NoMatchFound, compile_path
from starlette.types import Receive, Scope, Send

from shared.http.errors import declare_errors

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


def deferred_router(**options: Any) -> APIRouter:
    """A router whose routes are `DeferredAPIRoute`s (`options` as `APIRouter`'s)."""
    return APIRouter(route_class=DeferredAPIRoute, **options)


def path_of(route: BaseRoute) -> str:
    """A route's path, without building a deferred one."""
    pending = route.__dict__.get(_PENDING)
    return str(pending[0]) if pending else str(getattr(route, "path", ""))


def _prepared(routes: list[BaseRoute]) -> list[BaseRoute]:
    """The routes, each built at import declaring its error statuses (a deferred route
    declares its own when it is built)."""
    for route in routes:
        if isinstance(route, APIRoute) and _PENDING not in route.__dict__:
            declare_errors(route)
    return list(routes)


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
                if not path_of(route).startswith(self.prefixes):
                    raise ValueError(f"{self.module}: {path_of(route)} is outside {self.prefixes}")
            self._routes = _prepared(router.routes)
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


def add_routes(app: FastAPI, routes: APIRouter | RouteGroup) -> None:
    """Put a router's routes (or a group, whole) at the end of the app's table."""
    if isinstance(routes, RouteGroup):
        app.router.routes.append(routes)  # its routes are prepared when imported
        return
    # The routes as the router made them, on the app's own table: `include_router` would
    # build each one a second time (dependencies, response fields).
    app.router.routes.extend(_prepared(routes.routes))
