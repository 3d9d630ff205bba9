"""The journey dispatcher's one outward port, in a module of its own so the SQS adapter
(built with every messenger container) does not import the journey engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any


class ShardQueue:
    """Port: hand due shards, and the next page of a restock's wish list, to workers."""

    def fan_out(self, shards: Sequence[int], until: datetime) -> None:
        raise NotImplementedError

    def restock_page(self, restock: Mapping[str, Any]) -> None:
        """Queue the next page of a restocked SKU's wish list (`JourneyIntake.restock`'s
        payload: shop, SKU, the event's id, time and detail)."""
        raise NotImplementedError
