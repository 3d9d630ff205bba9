"""API-key authentication and scope checks, as FastAPI dependencies.

Every route declares the scope it needs; the key decides the shop, so no route takes
a shop id from the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Header, Request

from shared import clock
from shared.auth.keys import Principal
from shared.auth.service import (
    authenticate_service_token,
    authenticate_session,
    authenticate_token,
    session_principal,
)
from shared.auth.service_tokens import SERVICE_TOKEN_PREFIX
from shared.auth.sessions import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, check_csrf
from shared.errors import Forbidden, Unauthenticated
from shared.http.app import container_of
from shared.settings import get_settings


def authenticated(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    if not authorization:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            return _session_principal(request, cookie)
        raise Unauthenticated("missing Authorization header (expected 'Bearer <API key>')")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization header must be 'Bearer <API key>'")
    keys = container_of(request).keys
    if token.startswith(SERVICE_TOKEN_PREFIX):
        secret = get_settings().signing_secret.get_secret_value()
        return authenticate_service_token(keys, secret, token.strip())
    return authenticate_token(keys, token.strip())


def _session_principal(request: Request, cookie: str) -> Principal:
    """The console's session cookie stands for the key it was opened with. A change made
    with it must come from this origin and carry the session's CSRF token."""
    secret = get_settings().signing_secret.get_secret_value()
    session = authenticate_session(container_of(request).keys, secret, cookie, clock.now())
    if request.method.upper() not in SAFE_METHODS:
        check_same_origin(request)
    check_csrf(session, request.method, request.headers.get(CSRF_HEADER))
    return session_principal(session)


def check_same_origin(request: Request) -> None:
    """A browser names the page that sent a change in `Origin`: it must be this host."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise Forbidden("a change made with a session must come from the console's own origin")


def require_scope(scope: str) -> Callable[[Principal], Principal]:
    def dependency(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        principal.require(scope)
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


EventsWriter = Annotated[Principal, Depends(require_scope("events:write"))]
SegmentsReader = Annotated[Principal, Depends(require_scope("segments:read"))]
SegmentsWriter = Annotated[Principal, Depends(require_scope("segments:write"))]
MessagesSender = Annotated[Principal, Depends(require_scope("messages:send"))]
MessagesReader = Annotated[Principal, Depends(require_scope("messages:read"))]
FeedbackWriter = Annotated[Principal, Depends(require_scope("feedback:write"))]
Admin = Annotated[Principal, Depends(require_scope("admin"))]
