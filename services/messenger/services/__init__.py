"""Messenger use cases (sending, campaigns, engagement, webhooks), called by thin routes
and handlers; the small ones shared by several entry points are re-exported here, imported
on first use: importing one use case (or `services.ports`) does not load the others."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from messenger.services.common import (
        WELCOME_TRIGGER,
        Clock,
        category_wide_token,
        list_deliveries,
        read_unsubscribe_link,
        recipient_of,
        record_customer,
        unsubscribe,
        utcnow,
    )

__all__ = [
    "WELCOME_TRIGGER",
    "Clock",
    "category_wide_token",
    "list_deliveries",
    "read_unsubscribe_link",
    "recipient_of",
    "record_customer",
    "unsubscribe",
    "utcnow",
]


def __getattr__(name: str) -> object:
    if name in __all__:
        from messenger.services import common

        return getattr(common, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
