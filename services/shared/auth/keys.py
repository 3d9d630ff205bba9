"""API keys: one shop each, with scopes; shown once, stored only as a hash.

Pure domain: no AWS, no HTTP. A token reads ``kz1.<shop>.<key id>.<secret>`` so that
the key and its shop are fetched together in one DynamoDB call.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.errors import Forbidden, InvalidInput, Unauthenticated

SCOPES = frozenset(
    {
        "events:write",
        "segments:read",
        "segments:write",
        "messages:send",
        "messages:read",
        "feedback:write",
        "feedback:read",
        "admin",
    }
)
"""`admin` implies every other scope."""

TOKEN_PREFIX = "kz1"
SHOP_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class Shop:
    shop_id: str
    name: str
    created_at: datetime
    active: bool = True


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    shop_id: str
    name: str
    scopes: frozenset[str]
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self, at: datetime) -> ApiKey:
        return self if self.revoked else replace(self, revoked_at=at)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a shop and what its key may do."""

    shop_id: str
    key_id: str
    scopes: frozenset[str] = field(default_factory=frozenset)

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    def require(self, scope: str) -> None:
        if not self.allows(scope):
            raise Forbidden(f"this API key lacks the '{scope}' scope")


def validate_shop_id(shop_id: str) -> str:
    if not SHOP_ID_PATTERN.match(shop_id):
        raise InvalidInput("shop id must be 2-63 lowercase letters, digits or '-'", field="shop_id")
    return shop_id


def validate_scopes(scopes: list[str] | frozenset[str]) -> frozenset[str]:
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise InvalidInput(f"unknown scope(s): {', '.join(unknown)}", field="scopes")
    if not scopes:
        raise InvalidInput("at least one scope is required", field="scopes")
    return frozenset(scopes)


def _hash(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is enough (no password stretching).
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(shop_id: str, name: str, scopes: frozenset[str], now: datetime) -> tuple[ApiKey, str]:
    """A new key and its token. The token is returned once and never stored."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        key_id=key_id,
        shop_id=validate_shop_id(shop_id),
        name=name,
        scopes=validate_scopes(scopes),
        secret_hash=_hash(secret),
        created_at=now,
    )
    return key, f"{TOKEN_PREFIX}.{shop_id}.{key_id}.{secret}"


@dataclass(frozen=True)
class ParsedToken:
    shop_id: str
    key_id: str
    secret: str


def parse_token(token: str) -> ParsedToken:
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != TOKEN_PREFIX or not all(parts):
        raise Unauthenticated("malformed API key")
    return ParsedToken(shop_id=parts[1], key_id=parts[2], secret=parts[3])


def require_active_shop(shop: Shop | None) -> Shop:
    """Every credential, API key or service token, is refused for a missing or disabled shop."""
    if shop is None or not shop.active:
        raise Unauthenticated("unknown shop")
    return shop


def authenticate(token: ParsedToken, key: ApiKey | None, shop: Shop | None) -> Principal:
    """Check a presented token against what is stored. Every failure says why, but
    never reveals whether another shop's key exists."""
    require_active_shop(shop)
    if key is None or key.shop_id != token.shop_id:
        raise Unauthenticated("unknown API key")
    if not hmac.compare_digest(key.secret_hash, _hash(token.secret)):
        raise Unauthenticated("unknown API key")
    if key.revoked:
        raise Unauthenticated("API key has been revoked")
    return Principal(shop_id=key.shop_id, key_id=key.key_id, scopes=key.scopes)
