"""Messenger HTTP API: messages (save, preview, send), delivery log and dead letters,
the shop's sending policy and LINE channel, campaigns and their results, provider
webhooks, open and click tracking, and the no-login unsubscribe page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from html import escape
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Body, Depends, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from mangum import Mangum
from pydantic import ValidationError

from messenger import bootstrap, services
from messenger.bootstrap import MessengerContainer
from messenger.entrypoints import schemas
from shared.http import rights
from shared.http.app import CONTAINER, create_service_app
from shared.http.deferred import deferred_router, later
from shared.http.paging import (
    NEXT_CURSOR_HEADER,
    PAGED_LIST,
    Page,
    decode_cursor,
    set_next_cursor,
)
from shared.http.security import Admin, MessagesReader, MessagesSender
from shared.settings import get_settings

if TYPE_CHECKING:
    from messenger.domain.journeys.definition import JourneyStatus
    from messenger.domain.links import UnsubscribeRequest

Container = Annotated[MessengerContainer, CONTAINER]


router = deferred_router()
"""Each route is built by FastAPI on first use: a cold start's request builds its own."""


@dataclass(frozen=True)
class _ResultCustomersFilter:
    """Which count of a campaign's results to list, and the page (the analytics cells'
    `limit` and `cursor`)."""

    metric: schemas.ResultMetric = "sent"
    variant: Annotated[str | None, Query(min_length=1, max_length=16)] = None
    rank: schemas.ResultRank | None = None
    limit: Annotated[int, Query(ge=1, le=1000)] = 100
    cursor: Annotated[str | None, Query(description="`next_cursor` of the page before.")] = None


ResultCustomersQuery = Annotated[_ResultCustomersFilter, Depends()]


@dataclass(frozen=True)
class _JourneyCustomersFilter:
    """Which count of a journey's stats to list (journey-wide, or one step's), and the page."""

    metric: schemas.JourneyMetric = "entered"
    step: Annotated[str | None, Query(min_length=1, max_length=64)] = None
    limit: Annotated[int, Query(ge=1, le=1000)] = 100
    cursor: Annotated[str | None, Query(description="`next_cursor` of the page before.")] = None


JourneyCustomersQuery = Annotated[_JourneyCustomersFilter, Depends()]


@dataclass(frozen=True)
class _WeekCustomersFilter:
    """Which week tile to list (its Monday, shop time; this week's when absent) and the page."""

    metric: schemas.WeekMetric = "sent"
    week: Annotated[
        date | None, Query(description="The week's Monday (Tokyo); absent: this week.")
    ] = None
    limit: Annotated[int, Query(ge=1, le=1000)] = 100
    cursor: Annotated[str | None, Query(description="`next_cursor` of the page before.")] = None


WeekCustomersQuery = Annotated[_WeekCustomersFilter, Depends()]


@router.get(
    "/v1/deliveries",
    responses={
        200: {
            "description": "One page, newest first. When more follow, the `X-Next-Cursor` "
            "header holds the cursor of the next page (absent on the last page).",
            "headers": {
                NEXT_CURSOR_HEADER: {
                    "description": "Pass as `cursor` to read the next page.",
                    "schema": {"type": "string"},
                }
            },
        }
    },
)
def get_deliveries(
    principal: MessagesReader,
    c: Container,
    response: Response,
    q: Annotated[schemas.DeliveryFilter, Depends()],
) -> list[schemas.DeliveryPublic]:
    """The delivery log; `status=dead_letter` lists sends whose retries ran out. The
    body stays a list; paging is by header (`X-Next-Cursor` → `cursor`)."""
    start = decode_cursor(q.cursor, dict)
    found, after = services.list_deliveries(
        c.adapters.deliveries, principal.shop_id, q.customer_id, q.limit, q.status, start
    )
    set_next_cursor(response, after)
    return [schemas.DeliveryPublic.model_validate(d) for d in found]


@router.get("/v1/deliveries/customers")
def week_customers(
    q: WeekCustomersQuery, principal: MessagesReader, c: Container
) -> schemas.WeekCustomersPublic:
    """The customers behind the overview's week tiles, a page at a time: who was `sent`,
    `opened`, `clicked` or `converted` by the campaigns scheduled in the `week` and by
    the journeys in it. `messages` is the tile's number, `times` the part of it `count`
    people account for."""
    after = decode_cursor(q.cursor)
    found = c.week.customers(principal.shop_id, q.week, q.metric, q.limit, after)
    return schemas.WeekCustomersPublic.of(found)


@router.get("/v1/deliveries/week")
def week_sources(
    principal: MessagesReader,
    c: Container,
    week: Annotated[
        date | None, Query(description="The week's Monday (Tokyo); absent: this week.")
    ] = None,
) -> schemas.WeekSourcesPublic:
    """The overview's week tiles split by source, every tile at once: each campaign
    scheduled in the `week`, each journey and the journeys' sum, and the distinct people
    behind each tile, from figures counted as they happened (no recipient record read,
    however many people the campaigns reached)."""
    return schemas.WeekSourcesPublic.of(c.week.sources(principal.shop_id, week))


@router.post("/v1/deliveries/{delivery_id}/redrive", status_code=202)
def redrive_delivery(
    delivery_id: str, body: schemas.RedriveCreate, principal: MessagesSender, c: Container
) -> schemas.RedrivePublic:
    """Try a dead letter once more, same delivery id, every check of a first send made
    again. `may_duplicate: true` means its last provider call may have reached the person
    (it raised, or a LINE multicast went unconfirmed): redriving accepts a second copy.
    Anything but a dead letter is a 409; an unknown id (or another shop's) a 404."""
    return schemas.RedrivePublic.of(c.due.redrive(principal.shop_id, body.customer_id, delivery_id))


@router.post("/v1/messages", status_code=201)
def create_message(
    body: schemas.MessageCreate, principal: MessagesSender, c: Container
) -> schemas.MessagePublic:
    """Save a message (templates are checked: a broken one is a 422 naming the field)."""
    saved = c.library.save(body.to_domain(principal.shop_id, c.adapters.clock()))
    return schemas.MessagePublic.model_validate(saved)


@router.get("/v1/messages", responses=PAGED_LIST)
def list_messages(
    principal: MessagesReader,
    c: Container,
    page: Page,
) -> list[schemas.MessagePublic]:
    """The shop's messages by id, one page at a time (`X-Next-Cursor` → `cursor`)."""
    found, after = c.adapters.messages.page(principal.shop_id, page.limit, page.position)
    page.next(after)
    return [schemas.MessagePublic.model_validate(m) for m in found]


@router.get("/v1/messages/{message_id}")
def get_message(message_id: str, principal: MessagesReader, c: Container) -> schemas.MessagePublic:
    return schemas.MessagePublic.model_validate(c.library.get(principal.shop_id, message_id))


@router.post("/v1/messages/{message_id}/preview")
def preview_message(
    message_id: str, body: schemas.PreviewCreate, principal: MessagesSender, c: Container
) -> list[schemas.ChannelPreviewPublic]:
    """Each channel's rendering for one customer; nothing is sent or recorded."""
    previews = c.rendering.preview(
        principal.shop_id, message_id, body.customer_id, body.variables, body.channel
    )
    return [schemas.ChannelPreviewPublic.of(p) for p in previews]


@router.post("/v1/messages/{message_id}/sends", status_code=202)
def send_message(
    message_id: str, body: schemas.SendCreate, principal: MessagesSender, c: Container
) -> schemas.SendPublic:
    """Send to one customer, at most once per (trigger, customer, anchor). An unknown
    customer is a 404 and a template that fails to render a 422; neither writes anything."""
    request = body.to_request(principal.shop_id, message_id)
    return schemas.SendPublic.model_validate(c.pipeline.send(request, require_customer=True))


@router.post("/v1/messages/{message_id}/test-sends", status_code=202)
def test_send_message(
    message_id: str, body: schemas.TestSendCreate, principal: MessagesSender, c: Container
) -> schemas.SendPublic:
    """Send one rendering to a staff address or LINE user, to check how it looks."""
    outcome = c.rendering.test_send(
        principal.shop_id, message_id, body.channel, body.to, body.customer_id
    )
    return schemas.SendPublic.model_validate(outcome)


@router.get("/v1/messenger/policy")
def get_policy(principal: MessagesReader, c: Container) -> schemas.PolicyPublic:
    return schemas.PolicyPublic.of(c.library.policy(principal.shop_id))


@router.put("/v1/messenger/policy")
def put_policy(
    body: schemas.PolicyUpdate, principal: MessagesSender, c: Container
) -> schemas.PolicyPublic:
    return schemas.PolicyPublic.of(c.library.save_policy(principal.shop_id, body.to_domain()))


@router.get("/v1/messenger/line-channel")
def get_line_channel(principal: MessagesReader, c: Container) -> schemas.LineChannelPublic:
    """Whether the shop's own LINE channel is connected, and the webhook URL to enter in
    the LINE Developers console. Never the channel secret or the access token."""
    status = c.adapters.line_accounts.status(principal.shop_id, c.adapters.platform_line)
    return schemas.LineChannelPublic.model_validate(status)


@router.put("/v1/messenger/line-channel")
def put_line_channel(
    body: schemas.LineChannelUpdate, principal: Admin, c: Container
) -> schemas.LineChannelPublic:
    """Connect (or replace) the shop's LINE channel; the secret and the token are kept in
    AWS Secrets Manager and never shown again."""
    status = c.adapters.line_accounts.connect(
        principal.shop_id, body.to_domain(), c.adapters.platform_line
    )
    return schemas.LineChannelPublic.model_validate(status)


@router.delete("/v1/messenger/line-channel")
def delete_line_channel(principal: Admin, c: Container) -> schemas.LineChannelPublic:
    """Disconnect the shop's LINE channel and delete its credentials (idempotent)."""
    status = c.adapters.line_accounts.disconnect(principal.shop_id, c.adapters.platform_line)
    return schemas.LineChannelPublic.model_validate(status)


@router.post("/v1/webhooks/line/{shop_id}")
async def shop_line_webhook(
    shop_id: str,
    request: Request,
    c: Container,
    x_line_signature: Annotated[str | None, Header()] = None,
) -> dict[str, int]:
    """The shop's own LINE channel: the signature with that shop's channel secret over
    the raw body is the credential (no API key); only that shop's customers change."""
    return c.webhooks.shop_line(shop_id, await request.body(), x_line_signature)


@router.post("/v1/webhooks/line")
async def line_webhook(
    request: Request,
    c: Container,
    x_line_signature: Annotated[str | None, Header()] = None,
) -> dict[str, int]:
    """The platform's own LINE channel (global secret): it changes only customers of the
    shops that send through it, never those of a shop with a channel of its own."""
    return c.webhooks.platform_line(await request.body(), x_line_signature)


@router.post("/v1/webhooks/ses")
async def ses_webhook(
    request: Request, c: Container, token: str | None = None
) -> dict[str, object]:
    """SES bounces and complaints through SNS (HTTPS subscription with `?token=`)."""
    return c.webhooks.ses_notification(await request.body(), token)


JourneyBody = Annotated[
    dict[str, Any],
    Body(
        description='The journey JSON (README: "Journeys"); checked by the engine, '
        "which names the JSON path of anything wrong in a 422."
    ),
]


@router.get("/v1/journeys/builtins")
def list_builtin_journeys(
    principal: MessagesReader, c: Container
) -> list[schemas.BuiltinJourneyPublic]:
    """The catalogue of built-in journeys (README: "Built-in journeys"), each with this
    shop's status (null: not enabled)."""
    b = c.journeys.builtins
    return [
        schemas.BuiltinJourneyPublic.of(e, b.status(principal.shop_id, e.name)) for e in b.entries
    ]


@router.post("/v1/journeys/builtins/{name}/{action}")
def toggle_builtin_journey(
    name: str,
    action: Literal["enable", "disable"],
    principal: MessagesSender,
    c: Container,
) -> schemas.BuiltinEnabledPublic:
    """Enable: create the journey with its messages (ja/en; mail, LINE, SMS) and coupon
    pool as the shop's own, editable data, or resume it; again changes nothing.
    Disable: pause it."""
    b = c.journeys.builtins
    done = (
        b.enable(principal.shop_id, name)
        if action == "enable"
        else b.disable(principal.shop_id, name)
    )
    return schemas.BuiltinEnabledPublic.model_validate(done)


@router.get("/v1/journeys/enrolments")
def customer_enrolments(
    principal: MessagesReader,
    c: Container,
    customer_id: Annotated[str, Query(min_length=1, max_length=128)],
) -> list[schemas.EnrolmentPublic]:
    """A person's journeys, newest first: each enrolment's journey, version, status, step,
    exit and conversion (the console's customer profile)."""
    found = c.journeys.enrolments.of_customer(principal.shop_id, customer_id)
    return [schemas.EnrolmentPublic.model_validate(e) for e in found]


@router.post("/v1/journeys", status_code=201)
def create_journey(
    body: JourneyBody, principal: MessagesSender, c: Container
) -> schemas.JourneyPublic:
    """Save a journey as version 1; it starts enrolling at once."""
    return schemas.JourneyPublic.of(*c.journeys.definitions.create(principal.shop_id, body))


@router.post("/v1/journeys/validate")
def validate_journey(
    body: JourneyBody, principal: MessagesSender, c: Container
) -> schemas.JourneyValidPublic:
    """Check a journey without saving it (a 422 names the JSON path of the first error)."""
    j = c.journeys.definitions.validate(principal.shop_id, body)
    return schemas.JourneyValidPublic(
        valid=True,
        steps=len(j.steps),
        enrols_on=sorted(j.trigger.event_types),
        listens_to=sorted(j.listens_to),
    )


@router.get("/v1/journeys", responses=PAGED_LIST)
def list_journeys(
    principal: MessagesReader,
    c: Container,
    page: Page,
) -> list[schemas.JourneySummaryPublic]:
    """The shop's journeys by id, one page at a time (`X-Next-Cursor` → `cursor`)."""
    found, after = c.journeys.definitions.repo.heads_page(
        principal.shop_id, page.limit, page.position
    )
    page.next(after)
    return [schemas.JourneySummaryPublic.model_validate(h) for h in found]


@router.get("/v1/journeys/{journey_id}")
def get_journey(
    journey_id: str,
    principal: MessagesReader,
    c: Container,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> schemas.JourneyPublic:
    """A journey with the JSON of its latest version (or of `version`)."""
    return schemas.JourneyPublic.of(
        *c.journeys.definitions.read(principal.shop_id, journey_id, version)
    )


@router.post("/v1/journeys/{journey_id}/versions", status_code=201)
def new_journey_version(
    journey_id: str, body: JourneyBody, principal: MessagesSender, c: Container
) -> schemas.JourneyPublic:
    """Save an edit as the next version: new enrolments run it, people already inside
    keep the version they entered (README: the edit policy)."""
    return schemas.JourneyPublic.of(
        *c.journeys.definitions.new_version(principal.shop_id, journey_id, body)
    )


@router.post("/v1/journeys/{journey_id}/enrolments")
def enrol_segment(
    journey_id: str, body: schemas.EnrolmentsCreate, principal: MessagesSender, c: Container
) -> schemas.EnrolmentsPublic:
    """Put a segment's members into a journey triggered by entering a segment, a page
    (100) per call, as if each had entered its segment: entry filter, holdout and
    re-entry rule apply, so a repeat puts nobody in twice. Any other journey is a 422."""
    done = c.journeys.enrolments.enrol(principal.shop_id, journey_id, body.segment_id, body.after)
    return schemas.EnrolmentsPublic.model_validate(done)


@router.post("/v1/journeys/{journey_id}/{action}")
def change_journey_status(
    journey_id: str,
    action: Literal["pause", "resume", "archive"],
    principal: MessagesSender,
    c: Container,
) -> schemas.JourneySummaryPublic:
    """Pause (nobody enters, due steps wait), resume, or archive (nobody enters; people
    inside exit at their next step)."""
    return schemas.JourneySummaryPublic.model_validate(
        c.journeys.definitions.set_status(principal.shop_id, journey_id, _status_after(action))
    )


def _status_after(action: str) -> JourneyStatus:
    """The status a journey action leads to (the journey engine is imported by the
    journey routes only, so the other routes' cold start does not pay for it)."""
    from messenger.domain.journeys.definition import JourneyStatus

    return {
        "pause": JourneyStatus.PAUSED,
        "resume": JourneyStatus.ACTIVE,
        "archive": JourneyStatus.ARCHIVED,
    }[action]


@router.get("/v1/journeys/{journey_id}/stats")
def journey_stats(journey_id: str, principal: MessagesReader, c: Container) -> dict[str, Any]:
    """Entered, active, exited by reason, sent, converted and revenue per journey, version
    and step, and the lift against the holdout with 95 % intervals."""
    return c.journeys.stats.read(principal.shop_id, journey_id)


@router.get("/v1/journeys/{journey_id}/customers")
def journey_customers(
    journey_id: str, q: JourneyCustomersQuery, principal: MessagesReader, c: Container
) -> schemas.JourneyCustomersPublic:
    """The customers behind one count of the stats, a page at a time: journey-wide
    (`entered`, `holdout`, `treated`, `converted`, `holdout_converted`) or a step's
    (`sent`, `delivered`, `opened`, `clicked`: every step's summed without `step`):
    `count` people, counted `times` times; `stats` is the number the stats show."""
    after = decode_cursor(q.cursor)
    found = c.journeys.stats.customers(
        principal.shop_id, journey_id, q.step, q.metric, q.limit, after
    )
    return schemas.JourneyCustomersPublic.of(found)


@router.put("/v1/journeys/products/{sku}")
def put_product_usage(
    sku: Annotated[str, Path(min_length=1, max_length=128)],
    body: schemas.ProductUsagePut,
    principal: MessagesSender,
    c: Container,
) -> schemas.ProductUsagePublic:
    """A product's usage days (days of supply per unit): replenishment reminds at the
    order plus usage days x quantity instead of the person's average interval."""
    c.adapters.journey_facts.record_usage_days(principal.shop_id, sku, body.usage_days)
    return schemas.ProductUsagePublic(sku=sku, usage_days=body.usage_days)


@router.post("/v1/campaigns", status_code=201)
def create_campaign(
    body: schemas.CampaignCreate, principal: MessagesSender, c: Container
) -> schemas.CampaignPublic:
    """A one-shot send to a segment, now or at `scheduled_at`; several variants make it an
    A/B/n test whose split follows the results (Thompson sampling)."""
    campaign = c.campaigns.create(body.to_domain(principal.shop_id, c.adapters.clock()))
    return schemas.CampaignPublic.model_validate(campaign)


@router.get("/v1/campaigns", responses=PAGED_LIST)
def list_campaigns(
    principal: MessagesReader,
    c: Container,
    page: Page,
) -> list[schemas.CampaignPublic]:
    """The shop's campaigns by id, one page at a time (`X-Next-Cursor` → `cursor`)."""
    found, after = c.adapters.campaign_repo.campaigns_page(
        principal.shop_id, page.limit, page.position
    )
    page.next(after)
    return [schemas.CampaignPublic.model_validate(x) for x in found]


@router.get("/v1/campaigns/{campaign_id}")
def get_campaign(
    campaign_id: str, principal: MessagesReader, c: Container
) -> schemas.CampaignPublic:
    """Definition and progress (audience handed to the send path, waves, skips)."""
    return schemas.CampaignPublic.model_validate(c.campaigns.get(principal.shop_id, campaign_id))


@router.get("/v1/campaigns/{campaign_id}/results")
def campaign_results(
    campaign_id: str, principal: MessagesReader, c: Container, variant: str | None = None
) -> schemas.CampaignResultsPublic:
    """Sent, delivered, opened, clicked, converted and revenue per variant and per rank."""
    from messenger.services.campaigns import check_variant

    results = c.campaigns.results(principal.shop_id, campaign_id)
    if variant is not None:
        check_variant(results.campaign, variant)
    return schemas.CampaignResultsPublic.of(results, variant)


@router.get("/v1/campaigns/{campaign_id}/customers")
def campaign_result_customers(
    campaign_id: str, q: ResultCustomersQuery, principal: MessagesReader, c: Container
) -> schemas.CampaignCustomersPublic:
    """The customers behind one count of the results, a page at a time: `metric` (sent,
    delivered, opened, clicked, converted) of one `variant` and one `rank` or of all.
    `count` equals that number in the results."""
    from messenger.services.campaigns import ResultFilter

    who = ResultFilter(q.metric, q.variant, q.rank)
    after = decode_cursor(q.cursor)
    found = c.campaigns.result_customers(principal.shop_id, campaign_id, who, q.limit, after)
    return schemas.CampaignCustomersPublic.of(found)


@router.post("/v1/campaigns/{campaign_id}/cancel")
def cancel_campaign(
    campaign_id: str, principal: MessagesSender, c: Container
) -> schemas.CampaignPublic:
    return schemas.CampaignPublic.model_validate(c.campaigns.cancel(principal.shop_id, campaign_id))


_NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}


@router.post("/v1/coupon-pools", status_code=201)
def create_coupon_pool(
    body: schemas.CouponPoolCreate, principal: MessagesSender, c: Container
) -> schemas.CouponPoolPublic:
    """A pool of per-person coupon codes: `uploaded` (the shop's codes) or `signed`."""
    return schemas.CouponPoolPublic.of(
        c.coupons.create_pool(body.to_domain(principal.shop_id, c.adapters.clock()))
    )


@router.get("/v1/coupon-pools/{pool_id}")
def get_coupon_pool(
    pool_id: str, principal: MessagesReader, c: Container
) -> schemas.CouponPoolPublic:
    return schemas.CouponPoolPublic.of(c.coupons.stats(principal.shop_id, pool_id))


@router.post(
    "/v1/coupon-pools/{pool_id}/codes",
    openapi_extra=later(
        lambda: {
            "requestBody": {
                "content": {
                    "application/json": {"schema": schemas.CouponCodesUpload.model_json_schema()},
                    "text/csv": {"schema": {"type": "string"}},
                }
            }
        }
    ),
)
async def upload_coupon_codes(
    pool_id: str, request: Request, principal: MessagesSender, c: Container
) -> schemas.CouponUploadPublic:
    """Add codes: JSON `{"codes": [...]}` or `text/csv` (first column, optional `code`
    header). Codes the shop already has come back as `duplicates`, not added twice."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("text/csv"):
        return schemas.CouponUploadPublic.model_validate(
            c.coupons.upload_csv(principal.shop_id, pool_id, raw)
        )
    try:
        body = schemas.CouponCodesUpload.model_validate_json(raw)
    except ValidationError as err:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in err.errors()]
        ) from None
    return schemas.CouponUploadPublic.model_validate(
        c.coupons.upload(principal.shop_id, pool_id, body.codes)
    )


@router.post("/v1/coupon-pools/{pool_id}/assignments")
def give_coupon(
    pool_id: str, body: schemas.CouponGiveCreate, principal: MessagesSender, c: Container
) -> schemas.CouponGivenPublic:
    """One code for one person and anchor (the same code when asked again); a pool with
    no free code left is a 409."""
    return schemas.CouponGivenPublic.of(
        c.coupons.give_or_conflict(principal.shop_id, pool_id, body.customer_id, body.anchor)
    )


@router.get("/v1/coupon-pools/{pool_id}/codes/{code}")
def check_coupon_code(
    pool_id: str, code: str, principal: MessagesReader, c: Container
) -> schemas.CouponCodePublic:
    """Whether a code is this pool's (signature, for a signed pool), who has it, and
    whether it was redeemed."""
    return schemas.CouponCodePublic.of(c.coupons.check(principal.shop_id, pool_id, code))


@router.put("/v1/inserts/{insert_id}")
def put_insert(
    insert_id: str, body: schemas.InsertUpdate, principal: MessagesSender, c: Container
) -> schemas.InsertPublic:
    """A package insert (同梱物: a flyer, a sample) the shop can put into parcels."""
    return schemas.InsertPublic.model_validate(
        c.inserts.define(body.to_domain(principal.shop_id, insert_id))
    )


@router.post("/v1/inserts/{insert_id}/choices")
def choose_insert(
    insert_id: str, body: schemas.InsertChoiceCreate, principal: MessagesSender, c: Container
) -> schemas.SendPublic:
    """Put the insert into the customer's next parcel: `packed` on the channel `insert`,
    once per (trigger, customer, anchor); the next order they place carries it."""
    return schemas.SendPublic.model_validate(
        c.inserts.choose_insert(
            principal.shop_id,
            body.customer_id,
            insert_id,
            body.trigger or f"api:insert:{insert_id}",
            body.anchor,
        )
    )


@router.get(
    "/v1/pick-lists/{day}",
    response_model=later(lambda: list[schemas.PickLinePublic]),
    responses={
        200: {
            **PAGED_LIST[200],
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def get_pick_list(
    day: date,
    principal: MessagesReader,
    c: Container,
    page: Page,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """The warehouse's pick list of a day (the orders' dates in the shop's time zone):
    order id, customer and insert per line. JSON pages (`X-Next-Cursor` → `cursor`);
    `format=csv` is the whole day as one file."""
    if format == "csv":
        return Response(
            c.inserts.pick_list_csv(principal.shop_id, day),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="pick-list-{day}.csv"'},
        )
    lines, after = c.inserts.pick_list(principal.shop_id, day, page.limit, page.position)
    page.next(after)
    return [schemas.PickLinePublic.model_validate(x) for x in lines]


@router.get("/t/o/{token}")
def open_pixel(token: str, c: Container) -> Response:
    """The open pixel: a 1×1 GIF; the first load per delivery is `message.opened`."""
    from messenger.domain.tracking import PIXEL_GIF

    c.engagement.opened(token.removesuffix(".gif"))
    return Response(PIXEL_GIF, media_type="image/gif", headers=_NO_STORE)


@router.get("/t/c/{token}")
def click_redirect(token: str, c: Container) -> RedirectResponse:
    """A tracked link: `message.clicked`, then a redirect to the signed http(s) target.
    An unsigned or altered token is a 422 and never redirects."""
    target = c.engagement.clicked(token)
    return RedirectResponse(target, status_code=302, headers=_NO_STORE)


_PAGE = """<!doctype html><html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">
{body}</body></html>"""


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, c: Container) -> HTMLResponse:
    """Shows a confirm button: link scanners follow GETs, so a GET never unsubscribes."""
    secret = c.adapters.settings.signing_secret.get_secret_value()
    req = services.read_unsubscribe_link(secret, token)
    every = services.category_wide_token(secret, token)
    return HTMLResponse(_PAGE.format(title="配信停止", body=_confirm_forms(token, req, every)))


def _confirm_forms(token: str, req: UnsubscribeRequest, every: str) -> str:
    """The confirm button (this topic, or this channel's category), and one that leaves
    the whole category on every channel when the link names less than that."""
    if req.topic is not None:
        what = f"「{escape(req.topic)}」のお知らせ / {escape(req.topic)} messages"
        first = "このお知らせだけ停止 / Unsubscribe from this topic only"
        rest = "すべてのお知らせを停止 / Unsubscribe from all"
    else:
        what = f"{escape(req.category)} ({escape(req.channel)})"
        first = "配信停止する / Unsubscribe"
        rest = "すべての配信方法で停止 / Unsubscribe from every channel"
    body = (
        "<h1>配信停止 / Unsubscribe</h1><p>今後のお知らせを停止しますか？<br>"
        f"Stop receiving {what} from us?</p>"
        f'<form method="post" action="/u/{escape(token)}">'
        f'<button type="submit" name="List-Unsubscribe" value="One-Click">{first}'
        "</button></form>"
    )
    if every != token:
        body += (
            f'<form method="post" action="/u/{escape(every)}">'
            f'<button type="submit">{rest}</button></form>'
        )
    return body


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe_one_click(token: str, c: Container) -> HTMLResponse:
    """RFC 8058 one-click: mail clients POST `List-Unsubscribe=One-Click` here."""
    secret = c.adapters.settings.signing_secret.get_secret_value()
    services.unsubscribe(c.adapters.deliveries, c.adapters.publisher, secret, token)
    body = "<h1>配信を停止しました</h1><p>You have been unsubscribed.</p>"
    return HTMLResponse(_PAGE.format(title="配信停止", body=body))


app = create_service_app(
    title="Kizuna messenger",
    service="messenger",
    routers=[router, rights.router("/v1/messenger", "messenger")],
    container_factory=bootstrap.build,
    max_body_bytes=lambda: get_settings().max_body_bytes,
)
handler = Mangum(app, lifespan="off")


def reset() -> None:
    app.state.container = None
