"""Survey results: counts per option, rating distribution, NPS split, free-text listing,
overall and per time bucket (day / week / month). Pure: it folds responses it is given."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from feedback.domain.surveys import NPS_RANGE, RATING_RANGE, Question, Response, Survey
from shared.errors import InvalidInput

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
    groups = [nps_group(s) for s in values]
    promoters = groups.count("promoters")
    detractors = groups.count("detractors")
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


# ---------------------------------------------------------------------------- respondents

NpsGroup = Literal["promoters", "passives", "detractors"]


@dataclass(frozen=True)
class Respondents:
    """Who is behind one figure of the results: `responses` is the figure itself (results
    count responses), `customer_ids` the distinct customers who gave them, sorted."""

    question_id: str | None
    group: str | None
    answer: str | None
    responses: int
    customer_ids: list[str]


def nps_group(score: int) -> NpsGroup:
    """The NPS split `nps_of` counts: 9-10 promoters, 7-8 passives, 0-6 detractors."""
    if score >= 9:
        return "promoters"
    return "detractors" if score <= 6 else "passives"


def _chose(value: object, answer: str) -> bool:
    """Whether an answer counts toward the `answer` key of `summarize`'s counts."""
    if isinstance(value, tuple):
        return answer in value
    return str(value) == answer


def respondents(
    versions: Sequence[Survey],
    responses: Sequence[Response],
    question_id: str | None = None,
    group: str | None = None,
    answer: str | None = None,
) -> Respondents:
    """The responses (and their customers) behind a figure `summarize` shows: everyone
    (no question), a question's answerers, an NPS group or one answer's count. A 422 names
    the parameter that names nothing in the survey."""
    if group is not None and answer is not None:
        raise InvalidInput("give group or answer, not both", field="answer")
    question = _question_named(versions, question_id, group)
    if question is None:
        picked = list(responses)
    else:
        _check_key(question, group, answer)
        picked = []
        for resp in responses:
            value = resp.answers.get(question.question_id)
            if value is None:
                continue
            if group is not None and not (isinstance(value, int) and nps_group(value) == group):
                continue
            if answer is not None and not _chose(value, answer):
                continue
            picked.append(resp)
    ids = sorted({r.customer_id for r in picked})
    qid = question.question_id if question else None
    return Respondents(qid, group, answer, len(picked), ids)


def _question_named(
    versions: Sequence[Survey], question_id: str | None, group: str | None
) -> Question | None:
    """The question asked for; with only a `group`, the survey's first NPS question."""
    questions = _questions(versions)
    if question_id is None:
        if group is None:
            return None
        first_nps = next((q for q in questions if q.kind == "nps"), None)
        if first_nps is None:
            raise InvalidInput("the survey has no NPS question", field="group")
        return first_nps
    found = next((q for q in questions if q.question_id == question_id), None)
    if found is None:
        raise InvalidInput(f"the survey has no question {question_id}", field="question_id")
    return found


def _check_key(question: Question, group: str | None, answer: str | None) -> None:
    if group is not None and question.kind != "nps":
        raise InvalidInput(f"question {question.question_id} is not an NPS question", field="group")
    if answer is None:
        return
    if question.kind == "text":
        raise InvalidInput(f"question {question.question_id} takes free text", field="answer")
    if question.kind in ("rating", "nps"):
        low, high = RATING_RANGE if question.kind == "rating" else NPS_RANGE
        allowed = [str(v) for v in range(low, high + 1)]
    else:
        allowed = [o.option_id for o in question.options]
    if answer not in allowed:
        raise InvalidInput(
            f"question {question.question_id} has no answer {answer!r}", field="answer"
        )
