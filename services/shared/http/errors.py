"""The one place where errors become HTTP statuses and a uniform JSON body.

Every error response looks like
``{"error": {"code": ..., "message": ..., "fields": [{"field": ..., "message": ...}]}}``
so storefronts and partner tools can show which field was wrong.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(KizunaError, _on_kizuna_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
