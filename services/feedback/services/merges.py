"""`customer.merged` on the feedback service's side: the segmenter proved two profiles one
person, so the merged-away ids' survey answers and restock sign-ups become the survivor's
(results by person and the survivor's own sign-ups then see one person)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from feedback.services.ports import PersonRecords


@dataclass(frozen=True)
class Merges:
    records: PersonRecords

    def merged(self, shop_id: str, survivor: str, merged_ids: Sequence[str]) -> dict[str, int]:
        """How many items of each kind moved to the survivor (nothing on a redelivery)."""
        moved: dict[str, int] = {}
        for customer_id in dict.fromkeys(merged_ids):
            if customer_id == survivor:
                continue
            for kind, n in self.records.move_person(shop_id, customer_id, survivor).items():
                moved[kind] = moved.get(kind, 0) + n
        return moved
