"""What the survey use cases hand back to the routes and pages: a module of its own, loaded
with the first use case that returns one (a cold start's survey list returns heads)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feedback.domain import results as agg
    from feedback.domain.surveys import Survey, SurveyLink


@dataclass(frozen=True)
class Answered:
    response_id: str
    survey_id: str
    survey_version: int
    preferences: dict[str, list[str]]
    duplicate: bool


@dataclass(frozen=True)
class PageState:
    link: SurveyLink
    survey: Survey
    answered: bool


@dataclass(frozen=True)
class SurveyResults:
    survey: Survey
    version: int | None
    segment_id: str | None
    bucket: agg.Bucket | None
    total: agg.Summary
    buckets: list[agg.BucketSummary]


@dataclass(frozen=True)
class RespondentFilter:
    """Which figure of the results to list: the results' own filters (version, segment,
    window) and the question, NPS group or answer within them."""

    question_id: str | None = None
    group: str | None = None
    answer: str | None = None
    version: int | None = None
    segment_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class RespondentPage:
    survey_id: str
    respondents: agg.Respondents
    customer_ids: list[str]
    next_after: str | None
