"""Short-lived service tokens for calls between Kizuna's own functions.

A function that needs another service's read API for one shop (the messenger asking the
segmenter for a customer's recommendations) signs a token bound to that shop, its scopes
and a few minutes, with the stack's signing secret. No shop API key is stored anywhere
for this, and a token never reaches another shop or outlives its window.
"""

from __future__ import annotations

from shared.auth.keys import SCOPES, Principal
from shared.errors import Unauthenticated

SERVICE_TOKEN_PREFIX = "kzs."
_SALT = "kizuna.service-token.v1"
DEFAULT_TTL_SECONDS = 300


def issue_service_token(secret: str, shop_id: str, scopes: frozenset[str]) -> str:
    from itsdangerous import URLSafeTimedSerializer

    unknown = scopes - SCOPES
    if unknown or "admin" in scopes:
        raise ValueError(f"service tokens cannot carry {sorted(unknown | (scopes & {'admin'}))}")
    body = URLSafeTimedSerializer(secret, salt=_SALT).dumps([shop_id, sorted(scopes)])
    return SERVICE_TOKEN_PREFIX + str(body)


def verify_service_token(
    secret: str, token: str, max_age_seconds: int = DEFAULT_TTL_SECONDS
) -> Principal:
    # itsdangerous on first use: a request that carries no service token never loads it.
    from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

    try:
        shop_id, scopes = URLSafeTimedSerializer(secret, salt=_SALT).loads(
            token.removeprefix(SERVICE_TOKEN_PREFIX), max_age=max_age_seconds
        )
    except SignatureExpired:
        raise Unauthenticated("service token has expired") from None
    except (BadSignature, ValueError, TypeError):
        raise Unauthenticated("malformed or altered service token") from None
    return Principal(shop_id=str(shop_id), key_id="service", scopes=frozenset(scopes) - {"admin"})
