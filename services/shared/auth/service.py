"""Use cases around shops and keys, shared by the CLI and the admin routes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from shared import clock as shared_clock
from shared.adapters.dynamodb import Position
from shared.auth.keys import (
    SCOPES,
    ApiKey,
    Principal,
    Shop,
    authenticate,
    issue_key,
    parse_token,
    require_active_shop,
    validate_scopes,
    validate_shop_id,
)
from shared.auth.service_tokens import verify_service_token
from shared.auth.sessions import (
    LINK_KEY_ID,
    LinkGrant,
    Session,
    SessionRecord,
    open_session,
    read_link,
    read_session,
)
from shared.auth.store import KeyStore
from shared.errors import InvalidInput, NotFound, Unauthenticated

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return shared_clock.now()


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    token: str


def create_shop(store: KeyStore, shop_id: str, name: str, clock: Clock = utcnow) -> IssuedKey:
    """Create a shop together with its first key (scope `admin`)."""
    validate_shop_id(shop_id)
    if not name.strip():
        raise InvalidInput("shop name must not be empty", field="name")
    now = clock()
    key, token = issue_key(shop_id, "first admin key", frozenset({"admin"}), now)
    store.create_shop(Shop(shop_id=shop_id, name=name.strip(), created_at=now), key)
    return IssuedKey(key, token)


def create_key(
    store: KeyStore, principal: Principal, name: str, scopes: list[str], clock: Clock = utcnow
) -> IssuedKey:
    principal.require("admin")
    key, token = issue_key(principal.shop_id, name, validate_scopes(scopes), clock())
    store.add_key(key)
    return IssuedKey(key, token)


def revoke_key(store: KeyStore, principal: Principal, key_id: str, clock: Clock = utcnow) -> ApiKey:
    principal.require("admin")
    existing, _ = store.get_key_and_shop(principal.shop_id, key_id)
    if existing is None:
        raise NotFound("API key not found", field="key_id")
    revoked = existing.revoke(clock())
    store.save_key(revoked)
    return revoked


def list_keys(
    store: KeyStore, principal: Principal, limit: int, after: Position | None
) -> tuple[list[ApiKey], Position | None]:
    """One page of the caller's shop's keys by id, and where the next one starts."""
    principal.require("admin")
    return store.list_keys(principal.shop_id, limit, after)


def authenticate_token(store: KeyStore, token: str) -> Principal:
    parsed = parse_token(token)
    key, shop = store.get_key_and_shop(parsed.shop_id, parsed.key_id)
    return authenticate(parsed, key, shop)


def authenticate_service_token(store: KeyStore, secret: str, token: str) -> Principal:
    """A valid signature proves the token came from this stack, not that its shop may still
    be served: the shop must exist and be active, as for an API key."""
    principal = verify_service_token(secret, token)
    require_active_shop(store.get_shop(principal.shop_id))
    return principal


def authenticate_session(store: KeyStore, secret: str, cookie: str, now: datetime) -> Session:
    """A console session is only as good as what opened it: its record must still be
    open (not signed out, not revoked), the key must still exist and not be revoked (its
    scopes are read now, so a narrowed key narrows the session), and the shop must still
    be active. One read brings all three."""
    session = read_session(secret, cookie, now)
    record, key, shop = store.get_session(session.shop_id, session.key_id, session.session_id)
    require_active_shop(shop)
    if record is None or not record.open_at(now):
        raise Unauthenticated("this session was ended (signed out or revoked); sign in again")
    if session.from_link:
        return session
    if key is None or key.revoked:
        raise Unauthenticated("the API key of this session was revoked; sign in again")
    return replace(session, scopes=key.scopes)


def session_principal(session: Session) -> Principal:
    return Principal(session.shop_id, session.key_id, session.scopes)


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    session: Session
    cookie: str


def sign_in(store: KeyStore, secret: str, *, api_key: str, link: str, now: datetime) -> SignedIn:
    """A console sign-in: an API key, or a signed link's token (spent by this sign-in),
    exchanged for a new session, kept so that a sign-out or a revoke can end it."""
    grant: LinkGrant | None = None
    if api_key:
        principal = authenticate_token(store, api_key.strip())
    elif link:
        grant = read_link(secret, link.strip(), now)
        principal = grant.principal
        require_active_shop(store.get_shop(principal.shop_id))
    else:
        raise InvalidInput("enter an API key", field="api_key")
    session, record, cookie = open_session(secret, principal, now)
    store.open_session(record, grant)
    return SignedIn(principal, session, cookie)


def sign_out(store: KeyStore, secret: str, cookie: str, now: datetime) -> None:
    """End the session the cookie names (an unreadable or expired cookie ends nothing:
    there is nothing it could still open)."""
    try:
        session = read_session(secret, cookie, now)
    except Unauthenticated:
        return
    with contextlib.suppress(NotFound):
        store.end_session(session.shop_id, session.session_id, now)


def list_sessions(
    store: KeyStore, principal: Principal, limit: int, after: Position | None
) -> tuple[list[SessionRecord], Position | None]:
    """One page of the shop's console sessions (open, ended and expired ones alike)."""
    principal.require("admin")
    return store.list_sessions(principal.shop_id, limit, after)


def revoke_session(
    store: KeyStore, principal: Principal, session_id: str, clock: Clock = utcnow
) -> SessionRecord:
    """An admin ends one of the shop's console sessions: its next request is refused."""
    principal.require("admin")
    return store.end_session(principal.shop_id, session_id, clock())


__all__ = [
    "LINK_KEY_ID",
    "SCOPES",
    "IssuedKey",
    "authenticate_service_token",
    "authenticate_session",
    "authenticate_token",
    "create_key",
    "create_shop",
    "list_keys",
    "list_sessions",
    "revoke_key",
    "revoke_session",
    "session_principal",
    "sign_in",
    "sign_out",
]
