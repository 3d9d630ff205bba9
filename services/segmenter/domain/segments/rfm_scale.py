"""The RFM scale without the scoring: rank names, scoring methods and the bounds of a
shop's thresholds. A segment list (the built-ins name ranks) and the RFM settings schema
read only these, so a cold start's first request loads no scoring code (`rfm.py`)."""

from __future__ import annotations

from enum import StrEnum


class RfmRank(StrEnum):
    LOYAL = "loyal"
    SEMI_LOYAL = "semi_loyal"
    GENERAL = "general"
    DORMANT = "dormant"

    @property
    def label_ja(self) -> str:
        return _LABELS_JA[self]

    @property
    def label_en(self) -> str:
        return _LABELS_EN[self]


_LABELS_JA = {
    RfmRank.LOYAL: "優良",
    RfmRank.SEMI_LOYAL: "準優良",
    RfmRank.GENERAL: "一般",
    RfmRank.DORMANT: "休眠",
}
_LABELS_EN = {
    RfmRank.LOYAL: "Loyal",
    RfmRank.SEMI_LOYAL: "Semi-loyal",
    RfmRank.GENERAL: "General",
    RfmRank.DORMANT: "Dormant",
}

RANK_ORDER: tuple[RfmRank, ...] = tuple(RfmRank)
"""Ranks in a fixed order; the batch stores a rank as its index here."""


class ScoringMethod(StrEnum):
    QUANTILE = "quantile"
    FIXED = "fixed"


MAX_RECENCY_DAYS = 3650
"""Ten years: a longer cut point means nothing for a rank, and days past ~2.7 million
overflow a date (the nightly run once died on 1,000,000,000)."""
MAX_FREQUENCY = 100_000
MAX_MONETARY = 1e12
