"""What a recompute reports: apart from the segments use case, so a segment list (a cold
start's first request) builds no class it does not use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecomputeSummary:
    shop_id: str
    profiles: int
    entered: int
    exited: int
    ranks: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "profiles": self.profiles,
            "entered": self.entered,
            "exited": self.exited,
            "ranks": self.ranks,
        }


@dataclass(frozen=True)
class AppliedScores:
    summary: RecomputeSummary
    counts: dict[str, int]
