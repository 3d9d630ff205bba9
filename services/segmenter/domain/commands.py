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
    historical: bool = False
    """Imported history (CSV): stored and folded into the profile, but no `order.placed`
    is published, so a two-year-old order never triggers a welcome mail."""
