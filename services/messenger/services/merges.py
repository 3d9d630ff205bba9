"""`customer.merged` on the messenger's side: the segmenter proved two profiles one
person and merged them into a survivor, so what the messenger keeps per id follows.

An unsubscribe made under a merged-away id still holds for the person (it is copied to
the survivor, whose own stay as they are), and that id's active journey enrolments end
(`merged`), so the person does not get two flows. The survivor's enrolments go on. Both
are idempotent: a redelivered merge copies and ends nothing more."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from messenger.services.ports import DeliveryRepository

if TYPE_CHECKING:  # the journey engine is imported on first use (cold start)
    from messenger.services.journeys.intake import JourneyIntake


@dataclass(frozen=True)
class MergeOutcome:
    unsubscribes_carried: int
    enrolments_ended: tuple[str, ...]


@dataclass(frozen=True)
class Merges:
    deliveries: DeliveryRepository
    journeys: Callable[[], JourneyIntake]
    """The journey intake, wired on first use (the engine is imported only when needed)."""

    def merged(
        self, shop_id: str, survivor: str, merged_ids: Sequence[str], at: datetime
    ) -> MergeOutcome:
        away = [c for c in merged_ids if c != survivor]
        carried = sum(self.deliveries.carry_unsubscribes(shop_id, c, survivor) for c in away)
        return MergeOutcome(carried, self.journeys().merged(shop_id, away, at))
