"""Console HTTP API: the page, its assets, and the session (sign in, who, sign out).

Every figure a page shows comes from the other services' `/v1/...` routes; this function
never reads shop data. Routes stay thin: one call each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from mangum import Mangum
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console import bootstrap
from console.bootstrap import ConsoleContainer
from console.entrypoints import pages
from console.services import sessions
from shared.auth.keys import Principal
from shared.auth.service import SignedIn
from shared.auth.sessions import CSRF_COOKIE, SESSION_COOKIE, SESSION_TTL
from shared.errors import InvalidInput
from shared.http.app import CONTAINER, create_service_app
from shared.http.deferred import deferred_router
from shared.http.security import authenticated, check_same_origin
from shared.http.types import Schema

Container = Annotated[ConsoleContainer, CONTAINER]
router = deferred_router(prefix="/console", tags=["console"])


class SignInForm(Schema):
    api_key: str = ""
    link: str = ""


class SessionPublic(Schema):
    shop_id: str
    scopes: list[str]
    from_link: bool
    now: datetime
    """The platform's clock: "this week" on a page is the platform's week, not the
    browser's (whose clock may be off, or in another zone)."""


async def sign_in_form(request: Request) -> SignInForm:
    """The sign-in form, posted as `application/x-www-form-urlencoded` from this origin (a
    key never travels in a URL; another site cannot sign a browser in to its own shop)."""
    check_same_origin(request)
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidInput("post the sign-in as a form", field="body")
    try:
        fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=4)
    except ValueError:  # more fields than a sign-in has
        raise InvalidInput("the sign-in form has api_key or link only", field="body") from None
    for name in sorted(set(fields) - set(SignInForm.model_fields)):
        raise InvalidInput("the sign-in form has api_key or link only", field=name[:64])
    return SignInForm(api_key=fields.get("api_key", [""])[0], link=fields.get("link", [""])[0])


def _set_cookies(response: Response, signed_in: SignedIn) -> None:
    age = int(SESSION_TTL.total_seconds())
    for name, value, http_only in (
        (SESSION_COOKIE, signed_in.cookie, True),
        (CSRF_COOKIE, signed_in.session.csrf, False),
    ):
        response.set_cookie(
            name, value, max_age=age, path="/", secure=True, httponly=http_only, samesite="strict"
        )


def _public(principal: Principal, from_link: bool, now: datetime) -> SessionPublic:
    return SessionPublic(
        shop_id=principal.shop_id, scopes=sorted(principal.scopes), from_link=from_link, now=now
    )


@router.get("", include_in_schema=False)
def console_root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=308)


@router.get("/", response_class=HTMLResponse)
def page() -> HTMLResponse:
    """The one page shell; the script draws every view from the `/v1/...` routes."""
    return HTMLResponse(pages.read(pages.PAGE), headers={"Cache-Control": "no-store"})


@router.get("/assets/{name:path}")
def asset(name: str) -> Response:
    media = pages.ASSETS.get(name, "application/octet-stream")
    return Response(pages.read(name), media_type=media, headers={"Cache-Control": "no-cache"})


@router.post("/session")
def post_session(
    form: Annotated[SignInForm, Depends(sign_in_form)], c: Container, response: Response
) -> SessionPublic:
    """Exchange an API key (or a `kizuna dashboard link` token) for a session cookie."""
    signed_in = sessions.start(c, form.api_key, form.link)
    _set_cookies(response, signed_in)
    return _public(signed_in.principal, signed_in.session.from_link, c.clock())


@router.get("/session")
def get_session(
    principal: Annotated[Principal, Depends(authenticated)], c: Container
) -> SessionPublic:
    return _public(principal, principal.key_id == "link", c.clock())


@router.delete("/session", status_code=204)
def delete_session(
    _: Annotated[Principal, Depends(authenticated)], c: Container, request: Request
) -> Response:
    """Sign out: the session ends on the platform (its cookie opens nothing after, even
    kept or copied), and the browser forgets both cookies (a change: it needs the CSRF
    token)."""
    sessions.end(c, request.cookies.get(SESSION_COOKIE))
    response = Response(status_code=204)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=True, samesite="strict")
    return response


class SecurityHeaders:
    """Every console answer carries the CSP and its companions (`pages.SECURITY_HEADERS`)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        headers = pages.SECURITY_HEADERS.items()
        self._headers = [(k.lower().encode(), v.encode()) for k, v in headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self._headers]
            await send(message)

        await self._app(scope, receive, with_headers if scope["type"] == "http" else send)


app = create_service_app(
    title="Kizuna console",
    service="console",
    routers=[router],
    container_factory=bootstrap.build,
    max_body_bytes=lambda: 16_384,
)
app.add_middleware(SecurityHeaders)
handler = Mangum(app, lifespan="off")


def reset() -> None:
    """Forget the wired container (tests and the local stack after changing settings)."""
    app.state.container = None
