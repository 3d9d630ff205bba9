"""The one place where errors become HTTP statuses and a uniform JSON body.

Every error response looks like
``{"error": {"code": ..., "message": ..., "fields": [{"field": ..., "message": ...}]}}``
so storefronts and partner tools can show which field was wrong. An exception nobody
expected is a 500 with code `internal` and a request id; the same id is in the JSON log
line (class name only, no message: it may quote personal data), and nothing reaches
stderr as a raw traceback.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import (
    Conflict,
    DependencyFailed,
    Forbidden,
    InvalidInput,
    KizunaError,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
)
from shared.http.types import Schema
from shared.log import get_logger

STATUS_BY_ERROR: dict[type[KizunaError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Unauthenticated: 401,
    Forbidden: 403,
    PayloadTooLarge: 413,
    DependencyFailed: 503,
}

_log = get_logger("kizuna.http")


def status_for(error: KizunaError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def error_body(
    code: str, message: str, fields: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _on_kizuna_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KizunaError)
    status = status_for(exc)
    fields = [{"field": exc.field, "message": exc.message}] if exc.field else None
    if status >= 500:
        _log.error("request failed", extra={"error_code": exc.code})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        error_body(exc.code, exc.message, fields), status_code=status, headers=headers
    )


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = []
    for err in exc.errors():
        fields.append({"field": _field_path(err.get("loc", ())), "message": str(err.get("msg"))})
    names = ", ".join(f["field"] for f in fields)
    return JSONResponse(
        error_body("invalid_request", f"invalid fields: {names}", fields), status_code=422
    )


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "route_not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    # Starlette puts `Allow` on its 405: keep it (RFC 9110 requires it there).
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


REQUEST_ID_HEADER = "X-Request-Id"


def request_id_of(scope: Scope) -> str:
    """API Gateway's request id under Mangum (the one in its access log), else a new one."""
    event = scope.get("aws.event") or {}
    context = event.get("requestContext") if isinstance(event, dict) else None
    found = context.get("requestId") if isinstance(context, dict) else None
    return str(found) if found else uuid.uuid4().hex


class TrackedSend:
    """An ASGI `send` that remembers whether the response has started: after that, an
    error can no longer be answered with a status of its own."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


TRANSIENT_AWS_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
    }
)
"""AWS errors that say "try again": the answer is a 503 with `Retry-After`, so a client
retries (every write is idempotent on its id), never a 500 that reads as a bug."""


def _transient_aws_error(exc: Exception) -> bool:
    """A botocore `ClientError` (read by shape: this module imports no AWS library) whose
    code is a throttle or a transient service failure."""
    response = getattr(exc, "response", None)
    if type(exc).__name__ != "ClientError" or not isinstance(response, dict):
        return False
    return response.get("Error", {}).get("Code") in TRANSIENT_AWS_CODES


class CatchAll:
    """The outermost layer of a service app: an exception no handler mapped becomes the
    documented error body (code `internal`, with a request id) and one JSON log line
    carrying the same id; it is not re-raised, so no raw traceback reaches stderr."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        tracked = TrackedSend(send)
        try:
            await self._app(scope, receive, tracked)
        except Exception as exc:
            request_id = request_id_of(scope)
            _log.error(
                "unhandled exception",
                extra={
                    "request_id": request_id,
                    "error_code": "unavailable" if _transient_aws_error(exc) else "internal",
                    "exception": type(exc).__name__,
                    "method": scope.get("method"),
                    "route": _route_of(scope),
                },
            )
            if tracked.started:
                return
            if _transient_aws_error(exc):
                response = JSONResponse(
                    error_body("unavailable", f"busy, retry; request id {request_id}"),
                    status_code=503,
                    headers={REQUEST_ID_HEADER: request_id, "Retry-After": "1"},
                )
            else:
                response = JSONResponse(
                    error_body("internal", f"internal error; request id {request_id}"),
                    status_code=500,
                    headers={REQUEST_ID_HEADER: request_id},
                )
            await response(scope, receive, send)


def _route_of(scope: Scope) -> str:
    """The route template (`/v1/customers/{customer_id:path}`), never the raw path: a
    path may carry an email address or a token."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


# ---------------------------------------------------------------------------- OpenAPI


class FieldErrorPublic(Schema):
    field: str
    message: str


class ErrorDetailPublic(Schema):
    code: str
    message: str
    fields: list[FieldErrorPublic] | None = None


class ErrorPublic(Schema):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetailPublic


ERROR_DESCRIPTIONS: dict[int, str] = {
    401: "No API key, or an unknown or revoked one",
    403: "The key lacks the scope this route needs",
    404: "Not found (or another shop's)",
    409: "Conflicts with stored state",
    413: "Request body too large",
    422: "Invalid input; `fields` names each bad field",
}


def error_response(status: int) -> dict[str, Any]:
    """An OpenAPI response entry with the error schema."""
    return {"model": ErrorPublic, "description": ERROR_DESCRIPTIONS[status]}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(KizunaError, _on_kizuna_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)


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
