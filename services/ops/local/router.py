"""One ASGI app that serves every function's FastAPI app under the template's routes.

In the cloud API Gateway picks the function by route and hands it the full path; the
local dispatcher does the same from the `HttpApi` events, so a storefront talks to one
base URL locally exactly as it does in production. Paths under `/_local/` are the local
stack's own control endpoints (sandbox, schedules, clock, drain, health, and the import
of an orders file, streamed in and run beside moto: `kizuna import orders --local`). Every error
answers the services' format (`shared.http.errors.error_body`), with `fields` naming what
was wrong: the path, the method, the schedule name or the clock's `advance`.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO, Protocol
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ops.local.template import FunctionSpec
from shared.http.errors import error_body

__all__ = ["Dispatcher", "LocalControl", "Route", "build_routes", "match_route"]


@dataclass(frozen=True)
class Route:
    """A template route bound to the function (and so the FastAPI app) that serves it."""

    path: str
    method: str
    function_id: str
    handler: str
    segments: tuple[str, ...]

    @property
    def greedy(self) -> bool:
        """Whether the last segment is `{name+}` (matches one or more segments)."""
        return bool(self.segments) and self.segments[-1].endswith("+}")

    def matches(self, method: str, path_segments: Sequence[str]) -> bool:
        """API Gateway's rule: `{x}` is one segment, `{x+}` is one or more trailing segments."""
        if self.method not in ("ANY", method.upper()):
            return False
        fixed = self.segments[:-1] if self.greedy else self.segments
        if self.greedy:
            if len(path_segments) <= len(fixed):
                return False
        elif len(path_segments) != len(fixed):
            return False
        for pattern, actual in zip(fixed, path_segments, strict=False):
            if pattern.startswith("{") and pattern.endswith("}"):
                if not actual:
                    return False
            elif pattern != actual:
                return False
        return True


def _segments(path: str) -> tuple[str, ...]:
    stripped = path.strip("/")
    return tuple(stripped.split("/")) if stripped else ()


def build_routes(specs: Sequence[FunctionSpec]) -> list[Route]:
    """Every HttpApi route, most specific first (as API Gateway prefers them)."""
    routes = [
        Route(r.path, r.method, spec.logical_id, spec.handler, _segments(r.path))
        for spec in specs
        for r in spec.http_routes
    ]

    def specificity(route: Route) -> tuple[int, int, int, int]:
        literal = sum(1 for s in route.segments if not s.startswith("{"))
        return (int(route.greedy), -len(route.segments), -literal, int(route.method == "ANY"))

    return sorted(routes, key=specificity)


def match_route(routes: Sequence[Route], method: str, path: str) -> Route | None:
    """The route that serves a request, or None (API Gateway answers 404 then)."""
    segments = _segments(path)
    for route in routes:
        if route.matches(method, segments):
            return route
    return None


class LocalControl(Protocol):
    """What the `/_local/` endpoints need from the stack."""

    def sandbox_messages(self) -> list[Any]: ...

    def schedules(self) -> dict[str, str]: ...

    def fire_schedule(self, name: str) -> Any: ...

    def drain(self, timeout: float = 30) -> None: ...

    def advance_clock(
        self,
        delta: timedelta,
        step: timedelta = ...,
        schedules: frozenset[str] | None = None,
    ) -> dict[str, Any]: ...

    def request_counts(self) -> dict[str, int]: ...

    def import_orders(
        self,
        source: BinaryIO,
        fmt: str,
        shop_id: str,
        *,
        encoding: str,
        max_errors: int,
        progress: Callable[[dict[str, Any]], None],
    ) -> dict[str, Any]: ...


_LOCAL_ROUTES = {
    ("health",): "GET",
    ("sandbox",): "GET",
    ("drain",): "POST",
    ("schedules",): "GET",
    ("schedules", "{name}"): "POST",
    ("clock",): "POST",
    ("requests",): "GET",
    ("import", "orders"): "POST",
}
"""The `/_local/` endpoints (path segments after `_local`) and the one method of each."""


def _error(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    fields = [{"field": field, "message": message}] if field else None
    return JSONResponse(error_body(code, message, fields), status_code=status, headers=headers)


def _no_route(method: str, path: str) -> JSONResponse:
    return _error(404, "route_not_found", f"no route for {method} {path}", field="path")


def _local_route(parts: tuple[str, ...]) -> tuple[str, ...] | None:
    """The `_LOCAL_ROUTES` key `parts` falls under, or None."""
    if parts in _LOCAL_ROUTES:
        return parts
    if len(parts) == 2 and parts[0] == "schedules" and parts[1]:
        return ("schedules", "{name}")
    return None


class Dispatcher:
    """The ASGI app uvicorn serves: routes to the function apps, imported on first use."""

    def __init__(
        self,
        routes: Sequence[Route],
        control: LocalControl | None = None,
        app_loader: Callable[[str], ASGIApp] | None = None,
    ) -> None:
        self.routes = list(routes)
        self._control = control
        self._load = app_loader or load_app
        self._apps: dict[str, ASGIApp] = {}
        self._lock = threading.Lock()

    def app_for(self, route: Route) -> ASGIApp:
        """The FastAPI app of the route's function (`app` next to its `handler`)."""
        with self._lock:
            if route.handler not in self._apps:
                self._apps[route.handler] = self._load(route.handler)
            return self._apps[route.handler]

    def forget_apps(self) -> None:
        """Drop imported apps, so a restart picks up modules that were reset."""
        with self._lock:
            self._apps.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets on the HTTP API
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/_local/import/orders" and method == "POST" and self._control is not None:
            response = await self._import(scope, receive)
            await response(scope, receive, send)
            return
        if path == "/_local" or path.startswith("/_local/"):
            body = await _read_body(receive) if method == "POST" else b""
            response = await self._local(method, path, body)
            await response(scope, receive, send)
            return
        route = match_route(self.routes, method, path)
        if route is None:
            await _no_route(method, path)(scope, receive, send)
            return
        await self.app_for(route)(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # The function apps are not started here: under Mangum they run without lifespan.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _advance(self, body: bytes) -> JSONResponse:
        """`{"advance": "30d"}` (d, h, m): move the stack's clock, running the schedules
        due on the way (`kizuna local clock advance`); optionally `"step": "12h"` (how far
        each move goes, an hour unless told) and `"schedules": [...]` (only those fire)."""
        control = self._control
        assert control is not None
        try:
            asked = json.loads(body or b"{}")
            delta = parse_duration(str(asked.get("advance", "")))
        except (ValueError, AttributeError):
            message = "expected a duration like 30d, 12h or 90m"
            return _error(422, "invalid_input", message, field="advance")
        options: dict[str, Any] = {}
        if "step" in asked:
            try:
                options["step"] = parse_duration(str(asked["step"]))
            except ValueError:
                return _error(422, "invalid_input", "expected a duration like 1h", field="step")
        if "schedules" in asked:
            names = asked["schedules"]
            known = control.schedules()
            if not isinstance(names, list) or not all(n in known for n in names):
                message = f"a list of the stack's schedules: {', '.join(sorted(known))}"
                return _error(422, "invalid_input", message, field="schedules")
            options["schedules"] = frozenset(names)
        result = await run_in_threadpool(lambda: control.advance_clock(delta, **options))
        return JSONResponse(_jsonable(result))

    async def _import(self, scope: Scope, receive: Receive) -> JSONResponse | StreamingResponse:
        """`POST /_local/import/orders?shop=…&format=…&encoding=…&max_errors=…` with the
        CSV as the body: spooled to a temporary file (memory stays flat), imported in a
        worker thread, answered as JSON lines (`progress`…, then `summary` or `error`)."""
        control = self._control
        assert control is not None
        query = _import_query(scope)
        if isinstance(query, JSONResponse):
            return query
        shop, fmt, encoding, max_errors = query
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the import ends
        try:
            while True:
                message = await receive()
                spool.write(message.get("body", b""))
                if not message.get("more_body"):
                    break
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def put(line: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(lines.put_nowait, line)

        def work() -> None:
            from ops.importing import ImportRefused

            try:
                summary = control.import_orders(
                    spool,
                    fmt,
                    shop,
                    encoding=encoding,
                    max_errors=max_errors,
                    progress=lambda p: put({"progress": p}),
                )
                put({"summary": summary})
            except ImportRefused as err:
                fields = [{"field": err.field, "message": err.message}]
                put(error_body("import_refused", err.message, fields))
            except Exception as exc:  # the import stopped; what it wrote stays (resumable)
                message = f"the import stopped: {type(exc).__name__}; run it again to resume"
                put(error_body("internal", message))
            finally:
                spool.close()

        async def stream() -> AsyncIterator[bytes]:
            worker = loop.run_in_executor(None, work)
            while True:
                line = await lines.get()
                yield json.dumps(line).encode() + b"\n"
                if "progress" not in line:
                    break
            await worker

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    async def _local(self, method: str, path: str, body: bytes = b"") -> JSONResponse:
        control = self._control
        parts = _segments(path)[1:]
        route = _local_route(parts)
        if route is None or (control is None and route != ("health",)):
            return _no_route(method, path)
        allowed = _LOCAL_ROUTES[route]
        if method != allowed:
            message = f"{path} answers {allowed} only"
            return _error(405, "method_not_allowed", message, "method", {"Allow": allowed})
        if route == ("health",):
            return JSONResponse({"status": "ok", "routes": len(self.routes)})
        assert control is not None
        if route == ("sandbox",):
            return JSONResponse(await run_in_threadpool(control.sandbox_messages))
        if route == ("drain",):
            try:
                await run_in_threadpool(control.drain, 600)
            except TimeoutError:
                return _error(503, "not_drained", "events are still queued after 600 s")
            return JSONResponse({"drained": True})
        if route == ("clock",):
            return await self._advance(body)
        if route == ("requests",):
            return JSONResponse(control.request_counts())
        if route == ("schedules",):
            return JSONResponse(control.schedules())
        name = parts[1]
        if name not in control.schedules():
            known = ", ".join(sorted(control.schedules())) or "none"
            message = f"no schedule named {name} (the template's: {known})"
            return _error(404, "schedule_not_found", message, field="schedule")
        try:
            result = await run_in_threadpool(control.fire_schedule, name)
        except Exception as exc:
            return _error(500, "schedule_failed", f"{name} raised {type(exc).__name__}")
        return JSONResponse({"schedule": name, "result": _jsonable(result)})


def _import_query(scope: Scope) -> tuple[str, str, str, int] | JSONResponse:
    """The import's shop, format, encoding and max_errors, or a 422 naming the bad one."""
    from ops.importing import FORMATS, check_encoding

    query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
    shop = query.get("shop", "")
    fmt = query.get("format", "shopify")
    encoding = query.get("encoding", "utf-8-sig")
    if not shop:
        return _error(422, "invalid_input", "the shop the orders belong to", "shop")
    if fmt not in FORMATS:
        return _error(422, "invalid_input", f"one of {', '.join(FORMATS)}", "format")
    if not check_encoding(encoding):
        return _error(422, "invalid_input", f"unknown encoding '{encoding}'", "encoding")
    try:
        max_errors = int(query.get("max_errors", "20"))
    except ValueError:
        max_errors = -1
    if max_errors < 0:
        return _error(422, "invalid_input", "a whole number, 0 or more", "max_errors")
    return shop, fmt, encoding, max_errors


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
MAX_ADVANCE = timedelta(days=400)


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m` (up to 400 days): how far `clock advance` moves the clock."""
    found = _DURATION.match(text)
    if not found:
        raise ValueError(text)
    delta = timedelta(**{_UNITS[found.group(2)]: float(found.group(1))})
    if delta <= timedelta(0) or delta > MAX_ADVANCE:
        raise ValueError(text)
    return delta


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _jsonable(value: Any) -> Any:
    """Handler results are usually dicts; anything else is shown as text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def load_app(handler_path: str) -> ASGIApp:
    """Import `<svc>.entrypoints.api` from `<svc>.entrypoints.api.handler` and take its `app`."""
    module = importlib.import_module(handler_path.rpartition(".")[0])
    app = getattr(module, "app", None)
    if app is None or not callable(app):
        raise LookupError(f"{module.__name__} has no ASGI 'app' next to its handler")
    return app  # type: ignore[no-any-return]
