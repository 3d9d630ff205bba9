"""Browser sessions of the marketer's console, and the signed links that open one.

A user signs in once with a shop API key (posted in a form body, never in a URL); the
console answers with a signed, short-lived session cookie that names the shop and the key,
never the key's secret. The shared auth accepts that cookie wherever it accepts the key,
so the pages read the same `/v1/...` routes partner tools use. Each session carries a
random CSRF token: a change (any method but GET/HEAD/OPTIONS) must echo it in the
`X-CSRF-Token` header, which a page of another site cannot read or set.

`kizuna dashboard link --shop S` signs a link instead (no key involved): its token opens a
session with the scopes it names, once, within a few minutes (its nonce is spent by the
sign-in that uses it).

Every session is also a record in the platform table (`SessionRecord`): the cookie names
it, and a session whose record is gone or ended (a sign-out, an admin's revoke) opens
nothing, whatever the cookie's signature and expiry say.

Expiry reads `shared.clock`, so tests move time the same way as everywhere else.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.auth.keys import SCOPES, Principal
from shared.errors import Forbidden, InvalidInput, Unauthenticated

SESSION_COOKIE = "__Host-kizuna-session"
"""HttpOnly: the page's scripts never see it. `__Host-`: Secure, Path=/, no Domain."""
CSRF_COOKIE = "__Host-kizuna-csrf"
"""Readable by the page's own scripts, which echo it in `CSRF_HEADER` on every change."""
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_TTL = timedelta(hours=8)
LINK_TTL = timedelta(minutes=15)
LINK_KEY_ID = "link"
"""The `key_id` of a session opened by a signed link (no API key behind it)."""
_SESSION_SALT = "kizuna.console-session.v2"
_LINK_SALT = "kizuna.console-link.v2"


@dataclass(frozen=True)
class Session:
    """What the session cookie says: the shop, the key it was opened with, its CSRF token
    and expiry. `scopes`: a link session's from the link; a key session's cookie holds
    none, they are read from the key on every request (`authenticate_session`)."""

    shop_id: str
    key_id: str
    csrf: str
    expires_at: datetime
    scopes: frozenset[str] = frozenset()
    session_id: str = ""
    """Names its `SessionRecord`: what a sign-out or a revoke ends."""

    @property
    def from_link(self) -> bool:
        return self.key_id == LINK_KEY_ID


@dataclass(frozen=True)
class SessionRecord:
    """A session as the platform keeps it: listed to the shop's admin, ended by a sign-out
    or a revoke. Holds nothing secret (the cookie's CSRF token is not kept)."""

    shop_id: str
    session_id: str
    key_id: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None

    @property
    def from_link(self) -> bool:
        return self.key_id == LINK_KEY_ID

    def open_at(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at


@dataclass(frozen=True)
class LinkGrant:
    """What a valid sign-in link grants, and the nonce its one sign-in spends."""

    principal: Principal
    nonce: str
    expires_at: datetime


def open_session(
    secret: str, principal: Principal, now: datetime
) -> tuple[Session, SessionRecord, str]:
    """A new session for a signed-in principal, its record, and its cookie value."""
    from itsdangerous import URLSafeSerializer

    link = principal.key_id == LINK_KEY_ID
    session = Session(
        shop_id=principal.shop_id,
        key_id=principal.key_id,
        csrf=secrets.token_urlsafe(24),
        expires_at=now + SESSION_TTL,
        scopes=principal.scopes if link else frozenset(),
        session_id=secrets.token_urlsafe(16),
    )
    payload = [
        session.shop_id,
        session.key_id,
        session.csrf,
        int(session.expires_at.timestamp()),
        sorted(session.scopes),
        session.session_id,
    ]
    record = SessionRecord(
        session.shop_id, session.session_id, session.key_id, now, session.expires_at
    )
    return session, record, str(URLSafeSerializer(secret, salt=_SESSION_SALT).dumps(payload))


def read_session(secret: str, cookie: str, now: datetime) -> Session:
    # itsdangerous on first use: a request that carries no session cookie never loads it.
    from itsdangerous import BadSignature, URLSafeSerializer

    try:
        shop_id, key_id, csrf, expires, scopes, session_id = URLSafeSerializer(
            secret, salt=_SESSION_SALT
        ).loads(cookie)
        expires_at = datetime.fromtimestamp(int(expires), tz=now.tzinfo)
    except (BadSignature, ValueError, TypeError):
        raise Unauthenticated("malformed or altered session; sign in again") from None
    if expires_at <= now:
        raise Unauthenticated("the session has expired; sign in again")
    return Session(
        str(shop_id),
        str(key_id),
        str(csrf),
        expires_at,
        frozenset(scopes) & SCOPES,
        str(session_id),
    )


def check_csrf(session: Session, method: str, token: str | None) -> None:
    """A change made with the cookie must carry the session's CSRF token."""
    if method.upper() in SAFE_METHODS:
        return
    if not token or not secrets.compare_digest(token, session.csrf):
        raise Forbidden("a change made with a session needs its X-CSRF-Token header")


def sign_link(secret: str, shop_id: str, scopes: frozenset[str], now: datetime) -> str:
    """A sign-in token for the console, valid for `LINK_TTL`; never grants `admin`."""
    from itsdangerous import URLSafeSerializer

    unknown = scopes - SCOPES
    if unknown or "admin" in scopes or not scopes:
        raise InvalidInput(
            f"a console link carries read or write scopes only, not {sorted(unknown) or 'admin'}",
            field="scopes",
        )
    expires = int((now + LINK_TTL).timestamp())
    nonce = secrets.token_urlsafe(12)
    payload = [shop_id, sorted(scopes), expires, nonce]
    return str(URLSafeSerializer(secret, salt=_LINK_SALT).dumps(payload))


def read_link(secret: str, token: str, now: datetime) -> LinkGrant:
    """What the link grants; whether it was already used is the key store's to say."""
    from itsdangerous import BadSignature, URLSafeSerializer

    try:
        shop_id, scopes, expires, nonce = URLSafeSerializer(secret, salt=_LINK_SALT).loads(token)
        expires_at = datetime.fromtimestamp(int(expires), tz=now.tzinfo)
    except (BadSignature, ValueError, TypeError):
        raise Unauthenticated("malformed or altered sign-in link") from None
    if expires_at <= now:
        raise Unauthenticated("the sign-in link has expired; ask for a new one")
    granted = frozenset(scopes) & SCOPES - {"admin"}
    principal = Principal(shop_id=str(shop_id), key_id=LINK_KEY_ID, scopes=granted)
    return LinkGrant(principal, str(nonce), expires_at)
