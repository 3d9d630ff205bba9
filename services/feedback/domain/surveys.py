"""Surveys, their versions, and the validation of a response against one version.

Pure domain: no AWS, no HTTP, no pydantic. Every refusal is an `InvalidInput` naming the
field the way a caller wrote it (``questions.2.options``, ``answers.q2``), so the HTTP edge
can show it as is.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.errors import InvalidInput

QuestionKind = Literal["single", "multiple", "rating", "nps", "text"]
QUESTION_KINDS: tuple[QuestionKind, ...] = ("single", "multiple", "rating", "nps", "text")
CHOICE_KINDS = frozenset({"single", "multiple"})
SCORE_KINDS = frozenset({"rating", "nps"})
RATING_RANGE = (1, 5)
NPS_RANGE = (0, 10)
MAX_TEXT = 2000
MAX_QUESTIONS = 50
MAX_OPTIONS = 30
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
PREFERENCE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

AnswerValue = str | int | tuple[str, ...]
"""single → option id, multiple → option ids, rating / nps → int, text → str."""


@dataclass(frozen=True)
class Option:
    option_id: str
    label: str
    preferences: tuple[tuple[str, str], ...] = ()
    """What choosing it says about the person, e.g. (("motive", "gift"),)."""


@dataclass(frozen=True)
class ScoreRange:
    """What a rating or NPS score from `low` to `high` (inclusive) says about the person,
    e.g. NPS 9-10 → (("advocate", "promoter"),): the score questions' counterpart of an
    option's preferences."""

    low: int
    high: int
    preferences: tuple[tuple[str, str], ...]

    def holds(self, score: int) -> bool:
        return self.low <= score <= self.high


@dataclass(frozen=True)
class Question:
    """A question. Choice answers map to preferences through their options, rating and
    NPS answers through `score_ranges`; free-text answers are never mapped."""

    question_id: str
    kind: QuestionKind
    text: str
    required: bool = True
    options: tuple[Option, ...] = ()
    score_ranges: tuple[ScoreRange, ...] = ()

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.option_id == option_id), None)


@dataclass(frozen=True)
class Survey:
    """One version of a survey. Editing a survey creates the next version; a response
    always names the version it answered."""

    shop_id: str
    survey_id: str
    version: int
    title: str
    questions: tuple[Question, ...]
    created_at: datetime
    description: str = ""

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.question_id == question_id), None)


@dataclass(frozen=True)
class Response:
    """A validated response: answers keyed by question id, in the survey's order."""

    shop_id: str
    survey_id: str
    survey_version: int
    response_id: str
    customer_id: str
    answers: dict[str, AnswerValue]
    answered_at: datetime
    source: Literal["api", "page"] = "api"
    segments: tuple[str, ...] = ()
    """The customer's segments when they answered (the feedback service's own copy of
    membership, kept from `segment.entered` / `segment.exited`)."""

    @property
    def fingerprint(self) -> str:
        """Identifies the content, so a resubmission is told apart from a reused id."""
        body = json.dumps(
            [self.survey_id, self.survey_version, self.customer_id, _jsonable(self.answers)],
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(body.encode()).hexdigest()


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


def _jsonable(answers: Mapping[str, AnswerValue]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in answers.items()}


# ---------------------------------------------------------------------------- definition


def define_survey(
    shop_id: str,
    survey_id: str,
    version: int,
    title: str,
    questions: Sequence[Mapping[str, Any]],
    created_at: datetime,
    description: str = "",
) -> Survey:
    """Build a survey version from plain data, refusing anything a response could not
    answer sensibly (duplicate ids, a choice question without options, ...)."""
    if not ID_PATTERN.match(survey_id):
        raise InvalidInput("survey id must be 1-63 letters, digits, '_' or '-'", field="survey_id")
    if not title.strip():
        raise InvalidInput("a survey needs a title", field="title")
    if not questions:
        raise InvalidInput("a survey needs at least one question", field="questions")
    if len(questions) > MAX_QUESTIONS:
        raise InvalidInput(f"at most {MAX_QUESTIONS} questions", field="questions")
    built: list[Question] = []
    seen: set[str] = set()
    for i, raw in enumerate(questions):
        question = _question(raw, f"questions.{i}")
        if question.question_id in seen:
            raise InvalidInput(
                f"question id {question.question_id!r} is used twice", field=f"questions.{i}.id"
            )
        seen.add(question.question_id)
        built.append(question)
    return Survey(shop_id, survey_id, version, title.strip(), tuple(built), created_at, description)


def _question(raw: Mapping[str, Any], where: str) -> Question:
    question_id = str(raw.get("id", ""))
    if not ID_PATTERN.match(question_id):
        raise InvalidInput(
            "question id must be 1-63 letters, digits, '_' or '-'", field=f"{where}.id"
        )
    kind = raw.get("kind")
    if kind not in QUESTION_KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(QUESTION_KINDS)}", field=f"{where}.kind"
        )
    text = str(raw.get("text", "")).strip()
    if not text:
        raise InvalidInput("a question needs its text", field=f"{where}.text")
    raw_options = list(raw.get("options") or [])
    if kind in CHOICE_KINDS:
        if len(raw_options) < 2:
            raise InvalidInput(
                "a choice question needs at least two options", field=f"{where}.options"
            )
        if len(raw_options) > MAX_OPTIONS:
            raise InvalidInput(f"at most {MAX_OPTIONS} options", field=f"{where}.options")
    elif raw_options:
        raise InvalidInput(f"a {kind} question takes no options", field=f"{where}.options")
    options: list[Option] = []
    for j, raw_option in enumerate(raw_options):
        option = _option(raw_option, f"{where}.options.{j}")
        if any(o.option_id == option.option_id for o in options):
            raise InvalidInput(
                f"option id {option.option_id!r} is used twice", field=f"{where}.options.{j}.id"
            )
        options.append(option)
    ranges = _score_ranges(kind, list(raw.get("score_ranges") or []), f"{where}.score_ranges")
    return Question(
        question_id, kind, text, bool(raw.get("required", True)), tuple(options), ranges
    )


def score_bounds(kind: str) -> tuple[int, int]:
    return RATING_RANGE if kind == "rating" else NPS_RANGE


def _score_ranges(
    kind: QuestionKind, raw_ranges: list[Mapping[str, Any]], where: str
) -> tuple[ScoreRange, ...]:
    """Score → preference mappings of a rating or NPS question: whole numbers within the
    question's scale, `min` <= `max`, no score in two ranges, at least one preference."""
    if not raw_ranges:
        return ()
    if kind not in SCORE_KINDS:
        why = (
            "choices map through their options' preferences"
            if kind in CHOICE_KINDS
            else "free-text answers are not mapped to preferences"
        )
        raise InvalidInput(f"a {kind} question takes no score ranges ({why})", field=where)
    low, high = score_bounds(kind)
    ranges: list[ScoreRange] = []
    for j, raw in enumerate(raw_ranges):
        bounds = []
        for name in ("min", "max"):
            value = raw.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidInput(
                    f"{name} must be a whole number from {low} to {high}",
                    field=f"{where}.{j}.{name}",
                )
            bounds.append(value)
        if bounds[0] > bounds[1]:
            raise InvalidInput("max must not be below min", field=f"{where}.{j}.max")
        pairs = _preference_pairs(raw.get("preferences"), f"{where}.{j}.preferences")
        if not pairs:
            raise InvalidInput(
                "a score range needs at least one preference", field=f"{where}.{j}.preferences"
            )
        score_range = ScoreRange(bounds[0], bounds[1], pairs)
        for k, other in enumerate(ranges):
            if score_range.low <= other.high and other.low <= score_range.high:
                raise InvalidInput(
                    f"overlaps score range {k} ({other.low}-{other.high})", field=f"{where}.{j}"
                )
        ranges.append(score_range)
    return tuple(ranges)


def _option(raw: Mapping[str, Any], where: str) -> Option:
    option_id = str(raw.get("id", ""))
    if not ID_PATTERN.match(option_id):
        raise InvalidInput(
            "option id must be 1-63 letters, digits, '_' or '-'", field=f"{where}.id"
        )
    label = str(raw.get("label", "")).strip()
    if not label:
        raise InvalidInput("an option needs a label", field=f"{where}.label")
    preferences = _preference_pairs(raw.get("preferences"), f"{where}.preferences")
    return Option(option_id, label, preferences)


def _preference_pairs(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    """``{"motive": "gift", "dislike": ["fragrance"]}`` → (name, value) pairs."""
    pairs: list[tuple[str, str]] = []
    for name, value in dict(raw or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        if not PREFERENCE_KEY.match(str(name)):
            raise InvalidInput(
                "preference names are lowercase words (e.g. motive, dislike)",
                field=f"{where}.{name}",
            )
        for v in values:
            if not str(v).strip():
                raise InvalidInput("a preference needs a value", field=f"{where}.{name}")
            pairs.append((str(name), str(v).strip()))
    return tuple(pairs)


def check_kinds_kept(earlier: Iterable[Survey], survey: Survey) -> None:
    """A question id keeps its kind in every version: results add answers up by question
    id, and a rating of 4 is not an NPS of 4. A question of another kind needs a new id."""
    kinds = {q.question_id: q.kind for s in earlier for q in s.questions}
    for i, q in enumerate(survey.questions):
        was = kinds.get(q.question_id)
        if was is not None and was != q.kind:
            raise InvalidInput(
                f"question {q.question_id!r} is a {was} question in an earlier version; "
                f"ask the {q.kind} question under a new id",
                field=f"questions.{i}.kind",
            )


# ---------------------------------------------------------------------------- responses


def validate_answers(survey: Survey, answers: Mapping[str, Any]) -> dict[str, AnswerValue]:
    """Check every answer against the survey version; returns them normalised, in the
    survey's question order. Unknown questions, choices outside the options, values out
    of range and missing required answers are refused, naming ``answers.<question id>``."""
    for question_id in answers:
        if survey.question(str(question_id)) is None:
            raise InvalidInput(
                f"survey {survey.survey_id} v{survey.version} has no question {question_id!r}",
                field=f"answers.{question_id}",
            )
    out: dict[str, AnswerValue] = {}
    for q in survey.questions:
        where = f"answers.{q.question_id}"
        value = answers.get(q.question_id)
        if value is None or value in ("", [], ()):
            if q.required:
                raise InvalidInput("this question must be answered", field=where)
            continue
        out[q.question_id] = _answer(q, value, where)
    if not out:
        raise InvalidInput("a response needs at least one answer", field="answers")
    return out


def _answer(q: Question, value: Any, where: str) -> AnswerValue:
    if q.kind == "single":
        if not isinstance(value, str):
            raise InvalidInput("expected one option id", field=where)
        _require_option(q, value, where)
        return value
    if q.kind == "multiple":
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise InvalidInput("expected a list of option ids", field=where)
        chosen: list[str] = []
        for v in value:
            if not isinstance(v, str):
                raise InvalidInput("expected a list of option ids", field=where)
            _require_option(q, v, where)
            if v not in chosen:
                chosen.append(v)
        order = [o.option_id for o in q.options]
        return tuple(sorted(chosen, key=order.index))
    if q.kind in SCORE_KINDS:
        low, high = score_bounds(q.kind)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"expected a whole number from {low} to {high}", field=where)
        if not low <= value <= high:
            raise InvalidInput(f"{value} is outside {low}-{high}", field=where)
        return value
    if not isinstance(value, str):
        raise InvalidInput("expected text", field=where)
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"at most {MAX_TEXT} characters", field=where)
    return text


def _require_option(q: Question, option_id: str, where: str) -> None:
    if q.option(option_id) is None:
        allowed = ", ".join(o.option_id for o in q.options)
        raise InvalidInput(f"{option_id!r} is not one of the options ({allowed})", field=where)


def answers_from_form(survey: Survey, form: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The hosted page posts `q.<question id>` fields as text; turn them into the shapes
    `validate_answers` takes (numbers for rating and NPS, lists for multiple choice).
    Anything unexpected is passed on unchanged so validation names it."""
    raw: dict[str, list[str]] = {}
    for name, value in form:
        if name.startswith("q."):
            raw.setdefault(name[2:], []).append(value)
    out: dict[str, Any] = {}
    for question_id, values in raw.items():
        q = survey.question(question_id)
        if q is not None and q.kind == "multiple":
            out[question_id] = [v for v in values if v]
        elif q is not None and q.kind in ("rating", "nps"):
            text = values[-1].strip()
            out[question_id] = int(text) if re.fullmatch(r"-?\d{1,3}", text) else text
        else:
            out[question_id] = values[-1]
    return out


def preferences_of(survey: Survey, answers: Mapping[str, AnswerValue]) -> dict[str, list[str]]:
    """The profile preferences a response states: the union of its chosen options' and its
    scores' mappings (free text states none)."""
    found: dict[str, set[str]] = {}
    for q in survey.questions:
        value = answers.get(q.question_id)
        pairs: list[tuple[str, str]] = []
        if q.kind in CHOICE_KINDS and isinstance(value, str | tuple):
            for option_id in (value,) if isinstance(value, str) else value:
                option = q.option(option_id)
                pairs.extend(option.preferences if option else ())
        elif q.kind in SCORE_KINDS and isinstance(value, int):
            for score_range in q.score_ranges:
                if score_range.holds(value):
                    pairs.extend(score_range.preferences)
        for name, pref in pairs:
            found.setdefault(name, set()).add(pref)
    return {name: sorted(values) for name, values in sorted(found.items())}


@dataclass(frozen=True)
class SurveyLink:
    """What a signed per-customer survey link stands for."""

    shop_id: str
    survey_id: str
    customer_id: str
    nonce: str
    expires_at: datetime

    @property
    def response_id(self) -> str:
        """One response per link: answering twice through it is the same response."""
        return f"link-{self.nonce}"
