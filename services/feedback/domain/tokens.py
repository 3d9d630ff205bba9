"""Signed tokens carried by links that work without a login: the survey page, restock
confirmation and unsubscribe, and early access. The signature is the only proof the link
was ours, so a tampered token is refused; each also carries its own expiry, checked
against the caller's clock (not the wall clock) so tests and replays behave the same."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from itsdangerous import BadSignature, URLSafeSerializer

from shared.errors import InvalidInput

Purpose = Literal["survey", "restock-confirm", "restock-unsubscribe", "early-access"]


class TokenInvalid(InvalidInput):
    """The token was altered, is for another purpose or shop, or is not ours."""

    code = "token_invalid"


class TokenExpired(InvalidInput):
    """The token is genuine but its validity ended."""

    code = "token_expired"

    def __init__(self, message: str, *, field: str | None = None, expired_at: datetime) -> None:
        super().__init__(message, field=field)
        self.expired_at = expired_at


def _serializer(secret: str, purpose: Purpose) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=f"kizuna.feedback.{purpose}.v1")


def sign(secret: str, purpose: Purpose, fields: list[str], expires_at: datetime | None) -> str:
    expiry = int(expires_at.timestamp()) if expires_at else 0
    return str(_serializer(secret, purpose).dumps([*fields, expiry]))


def read(
    secret: str,
    purpose: Purpose,
    token: str,
    now: datetime,
    *,
    size: int,
    field: str = "token",
) -> tuple[list[str], datetime | None]:
    """The signed fields and expiry; `TokenInvalid` if altered, `TokenExpired` if past."""
    try:
        payload: Any = _serializer(secret, purpose).loads(token)
    except BadSignature:
        raise TokenInvalid("the link is invalid or was altered", field=field) from None
    if (
        not isinstance(payload, list)
        or len(payload) != size + 1
        or not all(isinstance(v, str) for v in payload[:-1])
        or not isinstance(payload[-1], int)
    ):
        raise TokenInvalid("the link is invalid or was altered", field=field)
    expires_at = datetime.fromtimestamp(payload[-1], UTC) if payload[-1] else None
    if expires_at is not None and now >= expires_at:
        raise TokenExpired("the link has expired", field=field, expired_at=expires_at)
    return list(payload[:-1]), expires_at
