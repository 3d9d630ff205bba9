"""Messenger use cases (sending, campaigns, engagement, webhooks), called by thin routes
and handlers; the small ones shared by several entry points are re-exported here."""

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
