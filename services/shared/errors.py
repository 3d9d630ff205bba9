"""Typed error hierarchy shared by every service.

Domain and service code raise these; the HTTP edge maps them to statuses in exactly one
place (`shared.http.errors`). Messages must never contain personal data.
"""

from __future__ import annotations


class KizunaError(Exception):
    """Base of every error Kizuna raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(KizunaError):
    """The caller sent something the domain cannot accept."""

    code = "invalid_input"


class NotFound(KizunaError):
    code = "not_found"


class Conflict(KizunaError):
    """The request contradicts stored state (e.g. an order id reused for another event)."""

    code = "conflict"


class Unauthenticated(KizunaError):
    """No key, an unknown key, a revoked key, or a key of an unknown shop."""

    code = "unauthenticated"


class Forbidden(KizunaError):
    """The key is valid but lacks the scope the route needs."""

    code = "forbidden"


class PayloadTooLarge(KizunaError):
    code = "payload_too_large"


class DependencyFailed(KizunaError):
    """An AWS service or provider failed after retries; the caller may retry."""

    code = "dependency_failed"
