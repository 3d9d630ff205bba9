"""Personal-data rights (APPI, GDPR): the names every service gives an erasure.

An erasure is recorded by a hash of the person's id, never the id itself, so the audit
trail (who asked, when, what was removed) holds no personal data."""

from __future__ import annotations

import hashlib

ERASED_CUSTOMER_PREFIX = "erased-"


def subject_hash(shop_id: str, value: str) -> str:
    """A one-way hash of a person's id or address within a shop (for audit and suppression
    records that must outlive the person's data)."""
    return hashlib.sha256(f"{shop_id}\x00{value}".encode()).hexdigest()


def erasure_id(shop_id: str, customer_id: str) -> str:
    """The same id for every request to erase the same person: retries are one erasure."""
    return "erasure-" + subject_hash(shop_id, customer_id)[:32]


def anonymous_customer(shop_id: str, customer_id: str) -> str:
    """What an erased person's kept records (orders' amounts) are filed under instead."""
    return ERASED_CUSTOMER_PREFIX + subject_hash(shop_id, "anon:" + customer_id)[:20]
