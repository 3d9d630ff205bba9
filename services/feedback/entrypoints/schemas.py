"""Request and response bodies of the feedback HTTP API (pydantic lives only at the edge)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from feedback.adapters.repository import SurveyHead
from feedback.domain import results as agg
from feedback.domain.restock import Release, SignUp
from feedback.domain.surveys import Survey
from feedback.services.restock import Access, SkuOverview
from feedback.services.surveys import Answered, SurveyResults
from shared.contracts.details import Channel
from shared.contracts.envelope import EVENT_ID_PATTERN

CustomerId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")]

Kind = Literal["single", "multiple", "rating", "nps", "text"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------- surveys


class OptionIn(_In):
    id: str = Field(min_length=1, max_length=63)
    label: str = Field(min_length=1, max_length=200)
    preferences: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description='What choosing it says, e.g. {"motive": "gift"} or '
        '{"dislike": ["fragrance"]}: stored on the profile as preferences.',
    )


class ScoreRangeIn(_In):
    """E.g. ``{"min": 9, "max": 10, "preferences": {"advocate": "promoter"}}``."""

    min: int = Field(description="Lowest score of the range (1-5 rating, 0-10 NPS).")
    max: int = Field(description="Highest score of the range, inclusive.")
    preferences: dict[str, str | list[str]] = Field(
        description="What a score in the range says, shaped like an option's preferences."
    )


class QuestionIn(_In):
    """Answers map to profile preferences per kind: single / multiple through each
    option's `preferences`, rating / NPS through `score_ranges`; free text is never
    mapped (it shows in the results only)."""

    id: str = Field(min_length=1, max_length=63)
    kind: Kind
    text: str = Field(min_length=1, max_length=500)
    required: bool = True
    options: list[OptionIn] = Field(default_factory=list, max_length=30)
    score_ranges: list[ScoreRangeIn] = Field(
        default_factory=list,
        max_length=11,
        description="Rating and NPS only: score ranges (no score in two) and the "
        "preferences they state.",
    )


class SurveyEdit(_In):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=1000)
    questions: list[QuestionIn] = Field(min_length=1, max_length=50)

    def question_dicts(self) -> list[dict[str, Any]]:
        return [q.model_dump() for q in self.questions]


class SurveyCreate(SurveyEdit):
    survey_id: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class OptionPublic(BaseModel):
    id: str
    label: str
    preferences: dict[str, list[str]]


class ScoreRangePublic(BaseModel):
    min: int
    max: int
    preferences: dict[str, list[str]]


class QuestionPublic(BaseModel):
    id: str
    kind: str
    text: str
    required: bool
    options: list[OptionPublic]
    score_ranges: list[ScoreRangePublic]


def _grouped(pairs: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


class SurveyPublic(BaseModel):
    survey_id: str
    version: int
    title: str
    description: str
    questions: list[QuestionPublic]
    created_at: datetime

    @classmethod
    def of(cls, s: Survey) -> SurveyPublic:
        questions = [
            QuestionPublic(
                id=q.question_id,
                kind=q.kind,
                text=q.text,
                required=q.required,
                options=[
                    OptionPublic(id=o.option_id, label=o.label, preferences=_grouped(o.preferences))
                    for o in q.options
                ],
                score_ranges=[
                    ScoreRangePublic(min=r.low, max=r.high, preferences=_grouped(r.preferences))
                    for r in q.score_ranges
                ],
            )
            for q in s.questions
        ]
        return cls(
            survey_id=s.survey_id,
            version=s.version,
            title=s.title,
            description=s.description,
            questions=questions,
            created_at=s.created_at,
        )


class SurveySummaryPublic(BaseModel):
    survey_id: str
    title: str
    latest_version: int
    updated_at: datetime

    @classmethod
    def of(cls, h: SurveyHead) -> SurveySummaryPublic:
        return cls(
            survey_id=h.survey_id,
            title=h.title,
            latest_version=h.latest_version,
            updated_at=h.updated_at,
        )


class ResponseCreate(_In):
    response_id: str = Field(
        min_length=1,
        max_length=100,
        pattern=EVENT_ID_PATTERN,
        description="Idempotency key chosen by the storefront: the same id and answers "
        "change nothing; the same id with other answers is refused (409).",
    )
    customer_id: str = Field(min_length=1, max_length=128)
    survey_version: int | None = Field(
        default=None,
        ge=1,
        description="The version shown to the customer (default: the latest; for a retry "
        "of a stored response id, the version it was stored with).",
    )
    answers: dict[str, Any] = Field(
        description="Question id → option id (single), option ids (multiple), 1-5 (rating), "
        "0-10 (nps) or text."
    )


class ResponsePublic(BaseModel):
    response_id: str
    survey_id: str
    survey_version: int
    preferences: dict[str, list[str]]
    status: Literal["accepted", "duplicate"]

    @classmethod
    def of(cls, a: Answered) -> ResponsePublic:
        return cls(
            response_id=a.response_id,
            survey_id=a.survey_id,
            survey_version=a.survey_version,
            preferences=a.preferences,
            status="duplicate" if a.duplicate else "accepted",
        )


class LinkCreate(_In):
    customer_id: str = Field(min_length=1, max_length=128)


class LinkPublic(BaseModel):
    url: str
    token: str
    expires_at: datetime


class InvitationCreate(_In):
    invitation_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Names this round of invitations: retrying it sends nothing twice.",
    )
    customer_ids: list[CustomerId] = Field(min_length=1, max_length=500)
    channel: Channel | None = Field(default=None, description="None: the messenger's policy.")


class InvitationPublic(BaseModel):
    requested: int


class TextPublic(BaseModel):
    response_id: str
    survey_version: int
    answered_at: datetime
    text: str


class QuestionResultPublic(BaseModel):
    question_id: str
    kind: str
    text: str
    answered: int
    counts: dict[str, int]
    average: float | None = None
    nps: dict[str, Any] | None = None
    texts: list[TextPublic] = Field(default_factory=list)


class SummaryPublic(BaseModel):
    responses: int
    questions: list[QuestionResultPublic]

    @classmethod
    def of(cls, s: agg.Summary) -> SummaryPublic:
        return cls(
            responses=s.responses,
            questions=[
                QuestionResultPublic(
                    question_id=q.question_id,
                    kind=q.kind,
                    text=q.text,
                    answered=q.answered,
                    counts=q.counts,
                    average=q.average,
                    nps=q.nps,
                    texts=[
                        TextPublic(
                            response_id=t.response_id,
                            survey_version=t.survey_version,
                            answered_at=t.answered_at,
                            text=t.text,
                        )
                        for t in q.texts
                    ],
                )
                for q in s.questions
            ],
        )


class BucketPublic(BaseModel):
    start: date
    summary: SummaryPublic


class ResultsPublic(BaseModel):
    survey_id: str
    latest_version: int
    version: int | None
    segment_id: str | None
    bucket: str | None
    total: SummaryPublic
    buckets: list[BucketPublic]

    @classmethod
    def of(cls, r: SurveyResults) -> ResultsPublic:
        return cls(
            survey_id=r.survey.survey_id,
            latest_version=r.survey.version,
            version=r.version,
            segment_id=r.segment_id,
            bucket=r.bucket,
            total=SummaryPublic.of(r.total),
            buckets=[
                BucketPublic(start=b.start, summary=SummaryPublic.of(b.summary)) for b in r.buckets
            ],
        )


# ---------------------------------------------------------------------------- restock


class SignUpCreate(_In):
    """A known customer (`customer_id`) or one anonymous address matching `channel`:
    `email` for email, `phone` for sms, `line_user_id` for line."""

    sku: str = Field(
        min_length=1,
        max_length=64,
        description="As the segmenter takes it: 1-64 characters, no control characters.",
    )
    channel: Channel
    customer_id: str | None = Field(default=None, max_length=128)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    line_user_id: str | None = Field(default=None, max_length=64)
    return_url: str | None = Field(
        default=None,
        max_length=2000,
        description="Product page the early-access link leads back to (with ?kizuna_access=).",
    )
    locale: Literal["ja", "en"] = "ja"


class SignUpPublic(BaseModel):
    signup_id: str
    sku: str
    channel: str
    status: str
    duplicate: bool
    confirmation_required: bool

    @classmethod
    def of(cls, s: SignUp, created: bool) -> SignUpPublic:
        return cls(
            signup_id=s.signup_id,
            sku=s.sku,
            channel=s.channel,
            status=s.status,
            duplicate=not created,
            confirmation_required=s.status == "pending",
        )


class TokenVerify(_In):
    token: str = Field(min_length=1, max_length=2000)
    sku: str | None = Field(default=None, description="The SKU being sold: checked if given.")


class AccessPublic(BaseModel):
    valid: Literal[True] = True
    sku: str
    release_id: str
    valid_until: datetime
    release_status: str
    first_use: bool

    @classmethod
    def of(cls, a: Access) -> AccessPublic:
        return cls(
            sku=a.release.sku,
            release_id=a.release.release_id,
            valid_until=a.valid_until,
            release_status=a.release.status,
            first_use=a.first_use,
        )


class ReleasePublic(BaseModel):
    release_id: str
    sku: str
    status: str
    started_at: datetime
    early_access_until: datetime
    stock_at_start: int
    waves: int
    notified: int = Field(
        description="Sign-ups the messenger was asked to tell (once each); not deliveries: "
        "the messenger may still hold one back (consent, frequency cap, suppression)."
    )
    clicked: int
    purchased: int
    ended_at: datetime | None

    @classmethod
    def of(cls, r: Release) -> ReleasePublic:
        return cls(
            release_id=r.release_id,
            sku=r.sku,
            status=r.status,
            started_at=r.started_at,
            early_access_until=r.early_access_until,
            stock_at_start=r.stock_at_start,
            waves=r.waves,
            notified=r.notified,
            clicked=r.clicked,
            purchased=r.purchased,
            ended_at=r.ended_at,
        )


class SkuPublic(BaseModel):
    sku: str
    stock: int | None
    signups: dict[str, int]
    releases: list[ReleasePublic]

    @classmethod
    def of(cls, o: SkuOverview) -> SkuPublic:
        return cls(
            sku=o.sku,
            stock=o.stock,
            signups=o.signups,
            releases=[ReleasePublic.of(r) for r in o.releases],
        )
