"""Use cases around shops and keys, shared by the CLI and the admin routes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from shared.auth.store import KeyStore
from shared.errors import InvalidInput, NotFound

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


__all__ = [
    "SCOPES",
    "IssuedKey",
    "authenticate_service_token",
    "authenticate_token",
    "create_key",
    "create_shop",
    "list_keys",
    "revoke_key",
]
