"""Survey results: counts per option, rating distribution, NPS split, free-text listing,
overall and per time bucket (day / week / month). Pure: it folds responses it is given."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from feedback.domain.surveys import NPS_RANGE, RATING_RANGE, Question, Response, Survey

Bucket = Literal["day", "week", "month"]
JST = ZoneInfo("Asia/Tokyo")
MAX_TEXTS = 200


@dataclass(frozen=True)
class TextAnswer:
    response_id: str
    survey_version: int
    answered_at: datetime
    text: str


@dataclass
class QuestionResult:
    question_id: str
    kind: str
    text: str
    answered: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    """Option id (choices) or value as text (rating, NPS) → how many chose it."""
    average: float | None = None
    nps: dict[str, Any] | None = None
    texts: list[TextAnswer] = field(default_factory=list)


@dataclass
class Summary:
    responses: int
    questions: list[QuestionResult]


@dataclass
class BucketSummary:
    start: date
    summary: Summary


def nps_of(scores: Iterable[int]) -> dict[str, Any]:
    """Net Promoter Score: % promoters (9-10) minus % detractors (0-6), from -100 to 100."""
    values = list(scores)
    promoters = sum(1 for s in values if s >= 9)
    detractors = sum(1 for s in values if s <= 6)
    passives = len(values) - promoters - detractors
    score = round(100 * (promoters - detractors) / len(values), 1) if values else None
    return {
        "score": score,
        "promoters": promoters,
        "passives": passives,
        "detractors": detractors,
    }


def _questions(versions: Sequence[Survey]) -> list[Question]:
    """The questions of all versions, latest wording first; options merged."""
    by_id: dict[str, Question] = {}
    order: list[str] = []
    for survey in sorted(versions, key=lambda s: -s.version):
        for q in survey.questions:
            if q.question_id not in by_id:
                by_id[q.question_id] = q
                order.append(q.question_id)
            else:
                known = {o.option_id for o in by_id[q.question_id].options}
                extra = tuple(o for o in q.options if o.option_id not in known)
                if extra:
                    base = by_id[q.question_id]
                    by_id[q.question_id] = replace(base, options=base.options + extra)
    latest = max(versions, key=lambda s: s.version)
    first = [q.question_id for q in latest.questions]
    return [by_id[i] for i in first + [i for i in order if i not in first]]


def summarize(versions: Sequence[Survey], responses: Sequence[Response]) -> Summary:
    """Fold responses (of any of the given versions) into per-question results."""
    results = []
    for q in _questions(versions):
        r = QuestionResult(q.question_id, q.kind, q.text)
        if q.kind in ("single", "multiple"):
            r.counts = {o.option_id: 0 for o in q.options}
        elif q.kind in ("rating", "nps"):
            low, high = RATING_RANGE if q.kind == "rating" else NPS_RANGE
            r.counts = {str(v): 0 for v in range(low, high + 1)}
        scores: list[int] = []
        for resp in responses:
            value = resp.answers.get(q.question_id)
            if value is None:
                continue
            r.answered += 1
            if isinstance(value, tuple):
                for option_id in value:
                    r.counts[option_id] = r.counts.get(option_id, 0) + 1
            elif q.kind == "text":
                r.texts.append(
                    TextAnswer(resp.response_id, resp.survey_version, resp.answered_at, str(value))
                )
            else:
                r.counts[str(value)] = r.counts.get(str(value), 0) + 1
                if isinstance(value, int):
                    scores.append(value)
        if q.kind in ("rating", "nps") and scores:
            r.average = round(sum(scores) / len(scores), 2)
        if q.kind == "nps":
            r.nps = nps_of(scores)
        r.texts = sorted(r.texts, key=lambda t: t.answered_at, reverse=True)[:MAX_TEXTS]
        results.append(r)
    return Summary(len(responses), results)


def bucket_start(moment: datetime, bucket: Bucket) -> date:
    """The day (JST) a response falls in, rounded down to its Monday or first of month."""
    day = moment.astimezone(JST).date()
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def over_time(
    versions: Sequence[Survey], responses: Sequence[Response], bucket: Bucket
) -> list[BucketSummary]:
    groups: dict[date, list[Response]] = {}
    for resp in responses:
        groups.setdefault(bucket_start(resp.answered_at, bucket), []).append(resp)
    return [BucketSummary(start, summarize(versions, groups[start])) for start in sorted(groups)]


def in_segment(responses: Iterable[Response], segment_id: str | None) -> list[Response]:
    """Responses of customers who were in the segment when they answered."""
    if segment_id is None:
        return list(responses)
    return [r for r in responses if segment_id in r.segments]
