"""Commands the segmenter accepts: imperative, one per use case."""

from __future__ import annotations

from dataclasses import dataclass

from segmenter.domain.model import Consent, Contact, Order


@dataclass(frozen=True)
class RecordOrder:
    """Store an order and fold it into its customer's profile, once per event id."""

    event_id: str
    shop_id: str
    order: Order
    contact: Contact
    consents: tuple[Consent, ...]
