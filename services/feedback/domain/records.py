"""The survey side's record types: what its store keeps besides the domain's own surveys
and responses (the restock side's are in `restock_records`: a survey list loads none)."""

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


@dataclass(frozen=True)
class StoredResponse:
    """The idempotency record of a response id."""

    response_id: str
    fingerprint: str
    survey_id: str
    survey_version: int
    customer_id: str
    preferences: dict[str, list[str]]
    answered_at: datetime
