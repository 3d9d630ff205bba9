"""What a survey list reads: the heads of the shop's surveys (a response's stored record
is with the response, in `surveys`; the restock side's records are in `restock_records`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SaveOutcome = Literal["created", "duplicate", "conflict"]


@dataclass(frozen=True)
class SurveyHead:
    survey_id: str
    title: str
    latest_version: int
    created_at: datetime
    updated_at: datetime
