"""Request and response bodies of the feedback HTTP API (pydantic lives only at the edge)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AliasPath, BeforeValidator, ConfigDict, Field

from shared.contracts.channels import Channel
from shared.contracts.envelope import EVENT_ID_PATTERN
from shared.http.types import Schema

if TYPE_CHECKING:  # the use cases' results, converted here: not imported at cold start
    from feedback.domain.restock import SignUp
    from feedback.services.outcomes import Answered, RespondentPage
    from feedback.services.restock import SignupCustomerPage

CustomerId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")]

Kind = Literal["single", "multiple", "rating", "nps", "text"]


class _In(Schema):
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


class _Out(Schema):
    """A response model read from the domain's records (`Model.model_validate(record)`).
    Fields named otherwise in the record read it through `validation_alias`; the answer
    and the OpenAPI keep the field's own name."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


def _grouped(pairs: object) -> object:
    """The record's (name, value) preference pairs as name → values."""
    if not isinstance(pairs, tuple):
        return pairs
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


Preferences = Annotated[dict[str, list[str]], BeforeValidator(_grouped)]


class OptionPublic(_Out):
    id: str = Field(validation_alias="option_id")
    label: str
    preferences: Preferences


class ScoreRangePublic(_Out):
    min: int = Field(validation_alias="low")
    max: int = Field(validation_alias="high")
    preferences: Preferences


class QuestionPublic(_Out):
    id: str = Field(validation_alias="question_id")
    kind: str
    text: str
    required: bool
    options: list[OptionPublic]
    score_ranges: list[ScoreRangePublic]


class SurveyPublic(_Out):
    survey_id: str
    version: int
    title: str
    description: str
    questions: list[QuestionPublic]
    created_at: datetime


class SurveySummaryPublic(_Out):
    survey_id: str
    title: str
    latest_version: int
    updated_at: datetime


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


class ResponsePublic(Schema):
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


class LinkPublic(Schema):
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


class InvitationPublic(Schema):
    requested: int


class TextPublic(_Out):
    response_id: str
    survey_version: int
    answered_at: datetime
    text: str


class QuestionResultPublic(_Out):
    question_id: str
    kind: str
    text: str
    answered: int
    counts: dict[str, int]
    average: float | None = None
    nps: dict[str, Any] | None = None
    texts: list[TextPublic] = Field(default_factory=list)


class SummaryPublic(_Out):
    responses: int
    questions: list[QuestionResultPublic]


class BucketPublic(_Out):
    start: date
    summary: SummaryPublic


class ResultsPublic(_Out):
    survey_id: str = Field(validation_alias=AliasPath("survey", "survey_id"))
    latest_version: int = Field(validation_alias=AliasPath("survey", "version"))
    version: int | None
    segment_id: str | None
    bucket: str | None
    total: SummaryPublic
    buckets: list[BucketPublic]


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


class SignUpPublic(Schema):
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


class AccessPublic(_Out):
    valid: Literal[True] = True
    sku: str = Field(validation_alias=AliasPath("release", "sku"))
    release_id: str = Field(validation_alias=AliasPath("release", "release_id"))
    valid_until: datetime
    release_status: str = Field(validation_alias=AliasPath("release", "status"))
    first_use: bool


class ReleasePublic(_Out):
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


class SkuSignupsPublic(_Out):
    sku: str
    signups: dict[str, int]


class SkuPublic(_Out):
    sku: str
    stock: int | None
    signups: dict[str, int]
    releases: list[ReleasePublic]


# ---------------------------------------------------------------------------- drill-downs


class RespondentsPublic(_Out):
    """The customers behind one figure of the results, a page at a time. `responses` is
    the figure the results show (they count responses); `count` the distinct customers
    who gave them (one customer may answer twice), which the pages list."""

    survey_id: str
    question_id: str | None
    group: str | None
    answer: str | None
    responses: int
    count: int
    customer_ids: list[str]
    next_cursor: str | None

    @classmethod
    def of(cls, page: RespondentPage) -> RespondentsPublic:
        from shared.http.paging import encode_cursor

        who = page.respondents
        return cls(
            survey_id=page.survey_id,
            question_id=who.question_id,
            group=who.group,
            answer=who.answer,
            responses=who.responses,
            count=len(who.customer_ids),
            customer_ids=page.customer_ids,
            next_cursor=encode_cursor(page.next_after) if page.next_after else None,
        )


class SignupCustomersPublic(_Out):
    """The customers behind one restock figure, a page at a time. `signups` is the figure
    the SKU shows (sign-ups, anonymous addresses among them); `count` the distinct known
    customers among them, which the pages list."""

    sku: str
    status: str | None
    release_id: str | None
    outcome: str | None
    signups: int
    count: int
    customer_ids: list[str]
    next_cursor: str | None

    @classmethod
    def of(cls, page: SignupCustomerPage) -> SignupCustomersPublic:
        from shared.http.paging import encode_cursor

        release_id, outcome = page.release or (None, None)
        return cls(
            sku=page.sku,
            status=page.status,
            release_id=release_id,
            outcome=outcome,
            signups=page.customers.signups,
            count=len(page.customers.customer_ids),
            customer_ids=page.customer_ids,
            next_cursor=encode_cursor(page.next_after) if page.next_after else None,
        )
