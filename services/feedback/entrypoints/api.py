"""Feedback HTTP API: surveys and restock sign-ups. Routes stay thin: parse, call one
service function, shape the output. The hosted pages (signed links) are in `pages`.

Scopes: defining and editing surveys needs `admin`; answering, survey links, restock
sign-ups and early-access checks need `feedback:write` (a storefront key); reading
surveys needs `feedback:read` or `feedback:write`; results and release figures need
`feedback:read`; survey invitations (marketing messages) need `messages:send`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, Query, Response
from mangum import Mangum

from feedback.entrypoints import deps, pages
from feedback.entrypoints.deps import Container
from feedback.entrypoints.schemas import (
    AccessPublic,
    InvitationCreate,
    InvitationPublic,
    LinkCreate,
    LinkPublic,
    RespondentsPublic,
    ResponseCreate,
    ResponsePublic,
    ResultsPublic,
    SignUpCreate,
    SignupCustomersPublic,
    SignUpPublic,
    SkuPublic,
    SkuSignupsPublic,
    SurveyCreate,
    SurveyEdit,
    SurveyPublic,
    SurveySummaryPublic,
    TokenVerify,
)
from shared.auth.keys import Principal
from shared.http import rights
from shared.http.app import create_service_app
from shared.http.deferred import deferred_router
from shared.http.paging import (
    PAGED_LIST,
    Page,
    decode_cursor,
)
from shared.http.security import Admin, FeedbackWriter, MessagesSender, authenticated, require_scope
from shared.http.types import WINDOW, Timestamp
from shared.settings import get_settings

if TYPE_CHECKING:  # built by the dependency below, loaded on first use
    from feedback.services.outcomes import RespondentFilter


def _survey_reader(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    """Storefronts (feedback:write) read a survey to render their own form."""
    if not principal.allows("feedback:write"):
        principal.require("feedback:read")
    return principal


FeedbackReader = Annotated[Principal, Depends(require_scope("feedback:read"))]
SurveyReader = Annotated[Principal, Depends(_survey_reader)]

router = deferred_router(prefix="/v1")
_WITH_OFFSET = f"ISO 8601 with a UTC offset, e.g. 2026-11-01T00:00:00+09:00, {WINDOW}."


# ---------------------------------------------------------------------------- surveys


@router.post("/surveys", status_code=201)
def create_survey(body: SurveyCreate, principal: Admin, c: Container) -> SurveyPublic:
    survey = c.surveys.create_survey(
        principal.shop_id, body.survey_id, body.title, body.question_dicts(), body.description
    )
    return SurveyPublic.model_validate(survey)


@router.get("/surveys", responses=PAGED_LIST)
def list_surveys(
    principal: SurveyReader,
    c: Container,
    page: Page,
) -> list[SurveySummaryPublic]:
    """The shop's surveys by id, one page at a time (`X-Next-Cursor` → `cursor`)."""
    found, after = c.surveys.list_surveys(principal.shop_id, page.limit, page.position)
    page.next(after)
    return [SurveySummaryPublic.model_validate(h) for h in found]


@router.put("/surveys/{survey_id}")
def edit_survey(survey_id: str, body: SurveyEdit, principal: Admin, c: Container) -> SurveyPublic:
    """Creates the next version; responses keep the version they answered."""
    survey = c.surveys.edit_survey(
        principal.shop_id, survey_id, body.title, body.question_dicts(), body.description
    )
    return SurveyPublic.model_validate(survey)


@router.get("/surveys/{survey_id}")
def get_survey(
    survey_id: str,
    principal: SurveyReader,
    c: Container,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> SurveyPublic:
    return SurveyPublic.model_validate(c.surveys.get_survey(principal.shop_id, survey_id, version))


@router.post(
    "/surveys/{survey_id}/responses",
    status_code=201,
    responses={200: {"description": "Duplicate: the same response was already accepted"}},
)
def post_response(
    survey_id: str,
    body: ResponseCreate,
    principal: FeedbackWriter,
    c: Container,
    response: Response,
) -> ResponsePublic:
    answered = c.surveys.submit_response(
        principal.shop_id,
        survey_id,
        body.response_id,
        body.customer_id,
        body.answers,
        survey_version=body.survey_version,
    )
    if answered.duplicate:
        response.status_code = 200
    return ResponsePublic.of(answered)


@router.post("/surveys/{survey_id}/links", status_code=201)
def create_link(
    survey_id: str, body: LinkCreate, principal: FeedbackWriter, c: Container
) -> LinkPublic:
    """A signed per-customer link to the hosted survey page (for a message to carry)."""
    token, url, expires_at = c.surveys.survey_link(principal.shop_id, survey_id, body.customer_id)
    return LinkPublic(url=url, token=token, expires_at=expires_at)


@router.post("/surveys/{survey_id}/invitations", status_code=202)
def invite(
    survey_id: str, body: InvitationCreate, principal: MessagesSender, c: Container
) -> InvitationPublic:
    """Asks the messenger (`message.requested`) to send each customer their own link."""
    count = c.surveys.invite(
        principal.shop_id, survey_id, body.invitation_id, body.customer_ids, body.channel
    )
    return InvitationPublic(requested=count)


@router.get("/surveys/{survey_id}/results")
def get_results(
    survey_id: str,
    principal: FeedbackReader,
    c: Container,
    version: Annotated[int | None, Query(ge=1)] = None,
    segment_id: Annotated[str | None, Query(min_length=1, max_length=63)] = None,
    bucket: Literal["day", "week", "month"] | None = None,
    since: Annotated[Timestamp | None, Query(description=_WITH_OFFSET)] = None,
    until: Annotated[Timestamp | None, Query(description=_WITH_OFFSET)] = None,
) -> ResultsPublic:
    """Counts per option, NPS split, free texts; by segment (membership when answered)
    and per day / week / month (JST). `since` / `until` need a UTC offset (422 naming
    the parameter without one: a bare time would be read in nobody knows which zone)."""
    found = c.surveys.results(
        principal.shop_id,
        survey_id,
        version=version,
        segment_id=segment_id,
        bucket=bucket,
        since=since,
        until=until,
    )
    return ResultsPublic.model_validate(found)


def _respondent_filter(
    question_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    group: Literal["promoters", "passives", "detractors"] | None = None,
    answer: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
    segment_id: Annotated[str | None, Query(min_length=1, max_length=63)] = None,
    since: Annotated[Timestamp | None, Query(description=_WITH_OFFSET)] = None,
    until: Annotated[Timestamp | None, Query(description=_WITH_OFFSET)] = None,
) -> RespondentFilter:
    from feedback.services.outcomes import RespondentFilter

    return RespondentFilter(question_id, group, answer, version, segment_id, since, until)


if TYPE_CHECKING:
    Filters = Annotated[RespondentFilter, Depends(_respondent_filter)]
else:  # FastAPI reads the annotation at import: the filter's class loads on first use
    Filters = Annotated[Any, Depends(_respondent_filter)]


@router.get("/surveys/{survey_id}/respondents")
def get_respondents(
    survey_id: str,
    principal: FeedbackReader,
    c: Container,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> RespondentsPublic:
    """The customers behind one figure of the results (same `version`, `segment_id`,
    `since`, `until`), a page at a time: every respondent; with `question_id`, those who
    answered it; with `group`, an NPS group (of `question_id`, else the first NPS
    question); with `answer`, those who chose that option id or score. `responses` is the
    figure; `count` the distinct customers listed."""
    after = decode_cursor(cursor)
    page = c.surveys.respondents(principal.shop_id, survey_id, filters, limit, after)
    return RespondentsPublic.of(page)


# ---------------------------------------------------------------------------- restock


@router.post(
    "/restock/signups",
    status_code=201,
    responses={200: {"description": "Duplicate: collapsed into the existing sign-up"}},
)
def post_signup(
    body: SignUpCreate, principal: FeedbackWriter, c: Container, response: Response
) -> SignUpPublic:
    signed = c.restock.sign_up(
        principal.shop_id,
        body.sku,
        body.channel,
        customer_id=body.customer_id,
        email=body.email,
        phone=body.phone,
        line_user_id=body.line_user_id,
        return_url=body.return_url,
        locale=body.locale,
    )
    if not signed.created:
        response.status_code = 200
    return SignUpPublic.of(signed.signup, signed.created)


@router.post("/restock/tokens/verify")
def verify_token(body: TokenVerify, principal: FeedbackWriter, c: Container) -> AccessPublic:
    """For the storefront: is this early-access token genuine, this shop's, unexpired and
    for this SKU? 200 if so (the first check counts as the click); otherwise 422 with
    code `token_expired` or `token_invalid` (field `token`), or field `sku`."""
    access = c.restock.verify_access(principal.shop_id, body.token, body.sku)
    return AccessPublic.model_validate(access)


@router.get("/restock/skus", responses=PAGED_LIST)
def list_signup_skus(principal: FeedbackReader, c: Container, page: Page) -> list[SkuSignupsPublic]:
    """The SKUs people signed up for, by SKU, each with its sign-ups by status, one page
    at a time (`X-Next-Cursor` → `cursor`): the restock view picks one from here."""
    found, after = c.restock.signup_skus(principal.shop_id, page.limit, page.position)
    page.next(after)
    return [SkuSignupsPublic.model_validate(s) for s in found]


@router.get("/restock/skus/{sku:path}")
def get_sku(sku: str, principal: FeedbackReader, c: Container) -> SkuPublic:
    """Sign-ups by status and every release of the SKU with notified / clicked / purchased
    (`notified`: early-access messages requested from the messenger, once per sign-up;
    not a delivery count). The SKU is the rest of the path, '/' included; percent-encode
    '#', '?', '%' and non-ASCII characters."""
    return SkuPublic.model_validate(c.restock.sku_overview(principal.shop_id, sku))


@router.get("/restock/customers")
def get_signup_customers(
    sku: Annotated[str, Query(min_length=1, max_length=64)],
    principal: FeedbackReader,
    c: Container,
    status: Literal["pending", "active", "unsubscribed"] | None = None,
    release_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    outcome: Literal["notified", "clicked", "purchased"] = "notified",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> SignupCustomersPublic:
    """The customers behind one figure of `GET /v1/restock/skus/{sku}`, a page at a time:
    the SKU's sign-ups (of `status`, or all), or with `release_id` the release's
    `outcome` (notified, clicked or purchased). `signups` is the figure; `count` the
    distinct known customers listed (anonymous addresses are nobody's customer id)."""
    release = (release_id, outcome) if release_id is not None else None
    after = decode_cursor(cursor)
    page = c.restock.signup_customers(principal.shop_id, sku, status, release, limit, after)
    return SignupCustomersPublic.of(page)


app = create_service_app(
    title="Kizuna feedback",
    service="feedback",
    routers=[router, pages.router, rights.router("/v1/feedback", "feedback")],
    container_factory=deps.build,
    max_body_bytes=lambda: get_settings().max_body_bytes,
)
handler = Mangum(app, lifespan="off")


def reset() -> None:
    """Forget the wired container (the local stack calls this after changing settings)."""
    app.state.container = None
