"""Messenger HTTP API: messages (save, preview, send), delivery log and dead letters,
the shop's sending policy and LINE channel, campaigns and their results, provider
webhooks, open and click tracking, and the no-login unsubscribe page."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from mangum import Mangum
from pydantic import BaseModel

from messenger import bootstrap, services
from messenger.bootstrap import MessengerContainer
from messenger.domain.journeys.definition import JourneyStatus
from messenger.domain.links import UnsubscribeRequest
from messenger.domain.model import Delivery
from messenger.domain.tracking import PIXEL_GIF
from messenger.entrypoints.schemas import (
    CampaignCreate,
    CampaignPublic,
    CampaignResultsPublic,
    ChannelPreviewPublic,
    JourneyPublic,
    JourneySummaryPublic,
    JourneyValidPublic,
    LineChannelPublic,
    LineChannelUpdate,
    MessageCreate,
    MessagePublic,
    PolicyPublic,
    PolicyUpdate,
    PreviewCreate,
    RedriveCreate,
    RedrivePublic,
    SendCreate,
    SendPublic,
    TestSendCreate,
)
from messenger.services.campaigns import check_variant
from shared.http.app import CONTAINER, create_service_app
from shared.http.paging import (
    DEFAULT_PAGE,
    NEXT_CURSOR_HEADER,
    PAGED_LIST,
    PageCursor,
    PageLimit,
    decode_cursor,
    encode_cursor,
    set_next_cursor,
)
from shared.http.security import Admin, MessagesReader, MessagesSender
from shared.settings import get_settings

Container = Annotated[MessengerContainer, CONTAINER]


class DeliveryPublic(BaseModel):
    delivery_id: str
    trigger: str
    customer_id: str
    anchor: str
    channel: str
    category: str
    status: str
    skip_reason: str | None
    created_at: datetime
    sent_at: datetime | None
    message_id: str | None = None
    due_at: datetime | None = None
    attempts: int = 0
    may_duplicate: bool = False
    """A dead letter whose last provider call may have reached the person anyway."""

    @classmethod
    def of(cls, d: Delivery) -> DeliveryPublic:
        return cls(
            delivery_id=d.delivery_id,
            trigger=d.key.trigger,
            customer_id=d.key.customer_id,
            anchor=d.key.anchor,
            channel=d.channel,
            category=d.category,
            status=d.status.value,
            skip_reason=d.skip_reason,
            created_at=d.created_at,
            sent_at=d.sent_at,
            message_id=d.message_id,
            due_at=d.due_at,
            attempts=d.attempts,
            may_duplicate=d.outcome_unknown,
        )


router = APIRouter()


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
    customer_id: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="`X-Next-Cursor` of the page before.")] = None,
) -> list[DeliveryPublic]:
    """The delivery log; `status=dead_letter` lists sends whose retries ran out. The
    body stays a list; paging is by header (`X-Next-Cursor` → `cursor`)."""
    found, after = services.list_deliveries(
        c.adapters.deliveries,
        principal.shop_id,
        customer_id,
        limit,
        status,
        decode_cursor(cursor, dict),
    )
    if after is not None:
        response.headers[NEXT_CURSOR_HEADER] = encode_cursor(after)
    return [DeliveryPublic.of(d) for d in found]


@router.post("/v1/deliveries/{delivery_id}/redrive", status_code=202)
def redrive_delivery(
    delivery_id: str, body: RedriveCreate, principal: MessagesSender, c: Container
) -> RedrivePublic:
    """Try a dead letter once more, same delivery id, every check of a first send made
    again. `may_duplicate: true` means its last provider call may have reached the person
    (it raised, or a LINE multicast went unconfirmed): redriving accepts a second copy.
    Anything but a dead letter is a 409; an unknown id (or another shop's) a 404."""
    return RedrivePublic.of_redrive(c.due.redrive(principal.shop_id, body.customer_id, delivery_id))


@router.post("/v1/messages", status_code=201)
def create_message(body: MessageCreate, principal: MessagesSender, c: Container) -> MessagePublic:
    """Save a message (templates are checked: a broken one is a 422 naming the field)."""
    saved = c.library.save(body.to_domain(principal.shop_id, c.adapters.clock()))
    return MessagePublic.of(saved)


@router.get("/v1/messages", responses=PAGED_LIST)
def list_messages(
    principal: MessagesReader,
    c: Container,
    response: Response,
    limit: PageLimit = DEFAULT_PAGE,
    cursor: PageCursor = None,
) -> list[MessagePublic]:
    """The shop's messages by id, one page at a time (`X-Next-Cursor` → `cursor`)."""
    found, after = c.adapters.messages.page(principal.shop_id, limit, decode_cursor(cursor, dict))
    set_next_cursor(response, after)
    return [MessagePublic.of(m) for m in found]


@router.get("/v1/messages/{message_id}")
def get_message(message_id: str, principal: MessagesReader, c: Container) -> MessagePublic:
    return MessagePublic.of(c.library.get(principal.shop_id, message_id))


@router.post("/v1/messages/{message_id}/preview")
def preview_message(
    message_id: str, body: PreviewCreate, principal: MessagesSender, c: Container
) -> list[ChannelPreviewPublic]:
    """Each channel's rendering for one customer; nothing is sent or recorded."""
    previews = c.rendering.preview(
        principal.shop_id, message_id, body.customer_id, body.variables, body.channel
    )
    return [ChannelPreviewPublic.of(p) for p in previews]


@router.post("/v1/messages/{message_id}/sends", status_code=202)
def send_message(
    message_id: str, body: SendCreate, principal: MessagesSender, c: Container
) -> SendPublic:
    """Send to one customer, at most once per (trigger, customer, anchor). An unknown
    customer is a 404 and a template that fails to render a 422; neither writes anything."""
    request = body.to_request(principal.shop_id, message_id)
    return SendPublic.of(c.pipeline.send(request, require_customer=True))


@router.post("/v1/messages/{message_id}/test-sends", status_code=202)
def test_send_message(
    message_id: str, body: TestSendCreate, principal: MessagesSender, c: Container
) -> SendPublic:
    """Send one rendering to a staff address or LINE user, to check how it looks."""
    outcome = c.rendering.test_send(
        principal.shop_id, message_id, body.channel, body.to, body.customer_id
    )
    return SendPublic.of(outcome)


@router.get("/v1/messenger/policy")
def get_policy(principal: MessagesReader, c: Container) -> PolicyPublic:
    return PolicyPublic.of(c.library.policy(principal.shop_id))


@router.put("/v1/messenger/policy")
def put_policy(body: PolicyUpdate, principal: MessagesSender, c: Container) -> PolicyPublic:
    return PolicyPublic.of(c.library.save_policy(principal.shop_id, body.to_domain()))


@router.get("/v1/messenger/line-channel")
def get_line_channel(principal: MessagesReader, c: Container) -> LineChannelPublic:
    """Whether the shop's own LINE channel is connected, and the webhook URL to enter in
    the LINE Developers console. Never the channel secret or the access token."""
    status = c.adapters.line_accounts.status(principal.shop_id, c.adapters.platform_line)
    return LineChannelPublic.of(status)


@router.put("/v1/messenger/line-channel")
def put_line_channel(body: LineChannelUpdate, principal: Admin, c: Container) -> LineChannelPublic:
    """Connect (or replace) the shop's LINE channel; the secret and the token are kept in
    AWS Secrets Manager and never shown again."""
    status = c.adapters.line_accounts.connect(
        principal.shop_id, body.to_domain(), c.adapters.platform_line
    )
    return LineChannelPublic.of(status)


@router.delete("/v1/messenger/line-channel")
def delete_line_channel(principal: Admin, c: Container) -> LineChannelPublic:
    """Disconnect the shop's LINE channel and delete its credentials (idempotent)."""
    status = c.adapters.line_accounts.disconnect(principal.shop_id, c.adapters.platform_line)
    return LineChannelPublic.of(status)


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


@router.post("/v1/journeys", status_code=201)
def create_journey(body: JourneyBody, principal: MessagesSender, c: Container) -> JourneyPublic:
    """Save a journey as version 1; it starts enrolling at once."""
    return JourneyPublic.of(*c.journeys.definitions.create(principal.shop_id, body))


@router.post("/v1/journeys/validate")
def validate_journey(
    body: JourneyBody, principal: MessagesSender, c: Container
) -> JourneyValidPublic:
    """Check a journey without saving it (a 422 names the JSON path of the first error)."""
    j = c.journeys.definitions.validate(principal.shop_id, body)
    return JourneyValidPublic(
        valid=True,
        steps=len(j.steps),
        enrols_on=sorted(j.trigger.event_types),
        listens_to=sorted(j.listens_to),
    )


@router.get("/v1/journeys", responses=PAGED_LIST)
def list_journeys(
    principal: MessagesReader,
    c: Container,
    response: Response,
    limit: PageLimit = DEFAULT_PAGE,
    cursor: PageCursor = None,
) -> list[JourneySummaryPublic]:
    """The shop's journeys by id, one page at a time (`X-Next-Cursor` → `cursor`)."""
    found, after = c.journeys.definitions.repo.heads_page(
        principal.shop_id, limit, decode_cursor(cursor, dict)
    )
    set_next_cursor(response, after)
    return [JourneySummaryPublic.of(h) for h in found]


@router.get("/v1/journeys/{journey_id}")
def get_journey(
    journey_id: str,
    principal: MessagesReader,
    c: Container,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> JourneyPublic:
    """A journey with the JSON of its latest version (or of `version`)."""
    return JourneyPublic.of(*c.journeys.definitions.read(principal.shop_id, journey_id, version))


@router.post("/v1/journeys/{journey_id}/versions", status_code=201)
def new_journey_version(
    journey_id: str, body: JourneyBody, principal: MessagesSender, c: Container
) -> JourneyPublic:
    """Save an edit as the next version: new enrolments run it, people already inside
    keep the version they entered (README: the edit policy)."""
    return JourneyPublic.of(
        *c.journeys.definitions.new_version(principal.shop_id, journey_id, body)
    )


@router.post("/v1/journeys/{journey_id}/{action}")
def change_journey_status(
    journey_id: str,
    action: Literal["pause", "resume", "archive"],
    principal: MessagesSender,
    c: Container,
) -> JourneySummaryPublic:
    """Pause (nobody enters, due steps wait), resume, or archive (nobody enters; people
    inside exit at their next step)."""
    status = {
        "pause": JourneyStatus.PAUSED,
        "resume": JourneyStatus.ACTIVE,
        "archive": JourneyStatus.ARCHIVED,
    }[action]
    return JourneySummaryPublic.of(
        c.journeys.definitions.set_status(principal.shop_id, journey_id, status)
    )


@router.get("/v1/journeys/{journey_id}/stats")
def journey_stats(journey_id: str, principal: MessagesReader, c: Container) -> dict[str, Any]:
    """Entered, active, exited by reason, sent, converted and revenue per journey, version
    and step, and the lift against the holdout with 95 % intervals."""
    return c.journeys.stats.read(principal.shop_id, journey_id)


@router.post("/v1/campaigns", status_code=201)
def create_campaign(
    body: CampaignCreate, principal: MessagesSender, c: Container
) -> CampaignPublic:
    """A one-shot send to a segment, now or at `scheduled_at`; several variants make it an
    A/B/n test whose split follows the results (Thompson sampling)."""
    campaign = c.campaigns.create(body.to_domain(principal.shop_id, c.adapters.clock()))
    return CampaignPublic.of(campaign)


@router.get("/v1/campaigns", responses=PAGED_LIST)
def list_campaigns(
    principal: MessagesReader,
    c: Container,
    response: Response,
    limit: PageLimit = DEFAULT_PAGE,
    cursor: PageCursor = None,
) -> list[CampaignPublic]:
    """The shop's campaigns by id, one page at a time (`X-Next-Cursor` → `cursor`)."""
    found, after = c.adapters.campaign_repo.campaigns_page(
        principal.shop_id, limit, decode_cursor(cursor, dict)
    )
    set_next_cursor(response, after)
    return [CampaignPublic.of(x) for x in found]


@router.get("/v1/campaigns/{campaign_id}")
def get_campaign(campaign_id: str, principal: MessagesReader, c: Container) -> CampaignPublic:
    """Definition and progress (audience handed to the send path, waves, skips)."""
    return CampaignPublic.of(c.campaigns.get(principal.shop_id, campaign_id))


@router.get("/v1/campaigns/{campaign_id}/results")
def campaign_results(
    campaign_id: str, principal: MessagesReader, c: Container, variant: str | None = None
) -> CampaignResultsPublic:
    """Sent, delivered, opened, clicked, converted and revenue per variant and per rank."""
    results = c.campaigns.results(principal.shop_id, campaign_id)
    if variant is not None:
        check_variant(results.campaign, variant)
    return CampaignResultsPublic.of(results, variant)


@router.post("/v1/campaigns/{campaign_id}/cancel")
def cancel_campaign(campaign_id: str, principal: MessagesSender, c: Container) -> CampaignPublic:
    return CampaignPublic.of(c.campaigns.cancel(principal.shop_id, campaign_id))


_NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}


@router.get("/t/o/{token}")
def open_pixel(token: str, c: Container) -> Response:
    """The open pixel: a 1×1 GIF; the first load per delivery is `message.opened`."""
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
    """The confirm button, and one for every channel when the link names one channel."""
    body = (
        "<h1>配信停止 / Unsubscribe</h1><p>今後のお知らせを停止しますか？<br>"
        f"Stop receiving {escape(req.category)} messages ({escape(req.channel)}) from us?</p>"
        f'<form method="post" action="/u/{escape(token)}">'
        '<button type="submit" name="List-Unsubscribe" value="One-Click">配信停止する / Unsubscribe'
        "</button></form>"
    )
    if every != token:
        body += (
            f'<form method="post" action="/u/{escape(every)}">'
            '<button type="submit">すべての配信方法で停止 / Unsubscribe from every channel'
            "</button></form>"
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
    routers=[router],
    container_factory=bootstrap.build,
    max_body_bytes=lambda: get_settings().max_body_bytes,
)
handler = Mangum(app, lifespan="off")


def reset() -> None:
    app.state.container = None
