"""The journey dispatcher's one outward port, in a module of its own so the SQS adapter
(built with every messenger container) does not import the journey engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


class ShardQueue:
    """Port: hand due shards to workers."""

    def fan_out(self, shards: Sequence[int], until: datetime) -> None:
        raise NotImplementedError
