"""Campaigns end to end under moto: segment membership from events, scheduled and
throttled waves, A/B variants, tracking (pixel, signed redirect, LINE postback),
conversion attribution, results per variant and rank, and resuming after a crash.
LINE is a fake server over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr

from messenger.adapters.campaigns import DynamoCampaignRepository
from messenger.adapters.repository import DynamoDeliveryRepository
from messenger.channels.base import Channel, OutboundMessage, SendResult
from messenger.domain.campaign import Campaign
from messenger.domain.records import DueEntry
from messenger.entrypoints import events as messenger_events
from shared.contracts.catalog import parse_detail
from shared.contracts.envelope import EventEnvelope
from tests.conftest import Cloud, ShopKeys
from tests.messenger.fakes import RecordingPublisher
from tests.messenger.line_server import BAD_CONTENT, INVALID_TO, fake_line_server
from tests.messenger.test_messaging import World, _signed

LINE_USERS = {f"c-{i}": "U" + f"{i:02d}" * 16 for i in range(1, 7)}


class CampaignWorld(World):
    def __init__(self, cloud: Cloud, line: Any, shop: ShopKeys) -> None:
        super().__init__(cloud, line, shop)
        self.published = RecordingPublisher()
        messenger_events.container.use(self.container)
        self.use(
            publisher=self.published,
            settings=self.container.adapters.settings.model_copy(
                update={"line_channel_secret": SecretStr("line-secret")}
            ),
        )
        self._n = 0

    def event(self, kind: str, detail: dict[str, Any]) -> dict[str, Any]:
        self._n += 1
        envelope = EventEnvelope(
            id=f"evt-{self._n}", shop="acme", type=kind, time=self.clock.now, detail=detail
        )
        return messenger_events.handler({"detail": envelope.model_dump(mode="json")}, None)

    def enter(self, segment: str, *customers: str, exited: bool = False) -> None:
        for c in customers:
            self.event(
                "segment.exited" if exited else "segment.entered",
                {"segment_id": segment, "customer_id": c},
            )

    def campaign(self, **body: Any) -> dict[str, Any]:
        payload = {"campaign_id": "spring", "name": "Spring sale", "segment_id": "vip", **body}
        r = self.http.post("/v1/campaigns", json=payload, headers=self.auth)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def results(self, campaign_id: str = "spring", **params: Any) -> dict[str, Any]:
        r = self.http.get(f"/v1/campaigns/{campaign_id}/results", params=params, headers=self.auth)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def tick(self) -> dict[str, Any]:
        return messenger_events.journey_dispatcher()

    def mail_html(self, index: int) -> str:
        mime = message_from_string(self.mails()[index].raw_data, policy=policy.default)
        assert isinstance(mime, EmailMessage)
        body = mime.get_body(preferencelist=("html",))
        assert body is not None
        return str(body.get_content())


@pytest.fixture
def cw(cloud: Cloud, shop: ShopKeys) -> Iterator[CampaignWorld]:
    with fake_line_server() as line:
        yield CampaignWorld(cloud, line, shop)


def _mail_only(world: CampaignWorld, *ids: str) -> None:
    for c in ids:
        world.customer(c, email=f"{c}@example.jp", line_user_id=None, phone=None)


def _ab_messages(world: CampaignWorld) -> None:
    for name, subject in (("spring-a", "春のセール"), ("spring-b", "【48時間限定】春のセール")):
        world.message(
            name,
            email={
                "subject": subject,
                "html": '<p>{{ customer.last_name }}様</p><a href="https://shop.example/sale">見る</a>',
                "text": "https://shop.example/sale",
            },
            line=None,
            sms=None,
            coupon=None,
            recommendations=0,
        )


def test_ab_campaign_to_a_segment_with_tracking_conversions_and_results(
    cw: CampaignWorld,
) -> None:
    # Given four customers; three are in "vip" (one left it again), with RFM ranks
    _mail_only(cw, "c-1", "c-2", "c-3", "c-4")
    cw.enter("vip", "c-1", "c-2", "c-3", "c-4")
    cw.enter("vip", "c-4", exited=True)
    cw.enter("rfm_loyal", "c-1", "c-2")
    cw.enter("rfm_general", "c-3")
    _ab_messages(cw)

    # When an A/B campaign (two subjects) starts now and the dispatcher ticks
    created = cw.campaign(
        variants=[
            {"name": "A", "message_id": "spring-a"},
            {"name": "B", "message_id": "spring-b"},
        ],
        wave_interval_minutes=0,
    )
    assert created["status"] == "scheduled"
    summary = cw.tick()["campaigns"]["spring"]

    # Then the three current members each get one mail, with tracked links and a pixel
    assert summary["status"] == "completed" and summary["processed"] == 3
    assert sorted(str(m.destinations[0]) for m in cw.mails()) == [
        "c-1@example.jp",
        "c-2@example.jp",
        "c-3@example.jp",
    ]
    html = cw.mail_html(0)
    assert "https://kizuna.test/t/c/" in html and "https://kizuna.test/t/o/" in html
    assert 'href="https://shop.example/sale"' not in html
    sent = [e for e in cw.published.published if e.type == "message.sent"]
    assert {e.detail["campaign_id"] for e in sent} == {"spring"}

    # When the person opens the mail twice and clicks the link
    pixel = html.split('src="https://kizuna.test')[1].split('"')[0]
    click = html.split('href="https://kizuna.test')[1].split('"')[0]
    for _ in range(2):
        opened = cw.http.get(pixel)
        assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
    followed = cw.http.get(click, follow_redirects=False)

    # Then it redirects to the shop, and one open and one click are published, as the
    # catalog's contract (which the segmenter's Engagement rule consumes)
    assert followed.status_code == 302
    assert followed.headers["location"] == "https://shop.example/sale"
    engaged = [e for e in cw.published.published if e.type.startswith("message.")][len(sent) :]
    assert [e.type for e in engaged] == ["message.opened", "message.clicked"]
    clicked = parse_detail(engaged[1])
    assert clicked.model_dump()["campaign_id"] == "spring"
    assert clicked.model_dump()["variant"] in ("A", "B")
    assert clicked.model_dump()["url"] == "https://shop.example/sale"
    who = clicked.model_dump()["customer_id"]

    # When an order they placed a week before the click is heard now (a history replay)
    replayed = {
        "order_id": "o-before",
        "customer": {"customer_id": who, "email": f"{who}@example.jp"},
        "placed_at": (cw.clock.now - timedelta(days=7)).isoformat(),
        "currency": "JPY",
        "total": "3980",
        "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980"}],
        "order_count": 1,
        "is_first_order": True,
    }
    # Then no campaign is credited with it (attribution counts by `placed_at`)
    assert cw.event("order.placed", replayed)["attributed_to"] is None

    # When that person orders two days later (the same order event arrives twice)
    order = {
        "order_id": "o-9",
        "customer": {"customer_id": who, "email": f"{who}@example.jp"},
        "placed_at": (cw.clock.now + timedelta(days=2)).isoformat(),
        "currency": "JPY",
        "total": "5980",
        "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "5980"}],
        "order_count": 2,
        "is_first_order": False,
    }
    assert cw.event("order.placed", order)["attributed_to"] == "spring"
    assert cw.event("order.placed", order)["attributed_to"] is None

    # Then the results count it once, per variant and per rank
    results = cw.results()
    total = results["total"]
    assert (total["sent"], total["delivered"], total["opened"], total["clicked"]) == (3, 3, 1, 1)
    assert total["converted"] == 1 and float(total["revenue"]) == 5980
    assert sum(r["sent"] for r in results["by_variant"].values()) == 3
    ranks = {
        rank: sum(r["sent"] for r in rows.values()) for rank, rows in results["by_rank"].items()
    }
    assert ranks == {"loyal": 2, "general": 1}
    assert set(results["win_probability"]) == {"A", "B"}

    # And a tampered or unsigned link is refused and never redirects
    for bad in (click[:-4] + "AAAA", "/t/c/hello", pixel[:-8] + "xx.gif"):
        refused = cw.http.get(bad, follow_redirects=False)
        assert refused.status_code == 422 and "location" not in refused.headers
    # And an unknown variant filter is a 422 naming the field
    bad_variant = cw.http.get("/v1/campaigns/spring/results?variant=Z", headers=cw.auth)
    assert bad_variant.status_code == 422
    assert bad_variant.json()["error"]["fields"][0]["field"] == "variant"


def test_scheduled_campaign_waits_and_bad_definitions_are_refused(cw: CampaignWorld) -> None:
    _mail_only(cw, "c-1")
    cw.enter("vip", "c-1")
    _ab_messages(cw)
    # An unknown segment, an unknown message, an unknown metric: 4xx naming the field
    cases: list[tuple[dict[str, Any], int, str]] = [
        (
            {"segment_id": "nobody", "variants": [{"name": "A", "message_id": "spring-a"}]},
            404,
            "segment_id",
        ),
        ({"variants": [{"name": "A", "message_id": "nope"}]}, 404, "variants.0.message_id"),
        (
            {"variants": [{"name": "A", "message_id": "spring-a"}], "metric": "likes"},
            422,
            "metric",
        ),
        ({"variants": []}, 422, "variants"),
    ]
    for body, status, field in cases:
        payload = {"campaign_id": "x", "name": "x", "segment_id": "vip", **body}
        r = cw.http.post("/v1/campaigns", json=payload, headers=cw.auth)
        assert r.status_code == status, r.text
        assert r.json()["error"]["fields"][0]["field"] == field
    assert cw.http.get("/v1/campaigns/x", headers=cw.auth).status_code == 404

    # Given a campaign scheduled for tomorrow
    later = cw.clock.now + timedelta(days=1)
    cw.campaign(variants=[{"name": "A", "message_id": "spring-a"}], scheduled_at=later.isoformat())
    # When the dispatcher ticks today, nothing goes out
    cw.tick()
    assert cw.mails() == []
    # When it ticks tomorrow, it does; a second tick sends nothing more
    cw.clock.now = later + timedelta(minutes=1)
    cw.tick()
    cw.tick()
    assert len(cw.mails()) == 1
    got = cw.http.get("/v1/campaigns/spring", headers=cw.auth).json()
    assert got["status"] == "completed" and got["processed"] == 1
    assert cw.http.post("/v1/campaigns/spring/cancel", headers=cw.auth).status_code == 409


def test_a_crash_after_sending_a_page_resumes_without_sending_twice(cw: CampaignWorld) -> None:
    _mail_only(cw, "c-1", "c-2", "c-3", "c-4")
    cw.enter("vip", "c-1", "c-2", "c-3", "c-4")
    _ab_messages(cw)
    repo = cw.container.adapters.campaign_repo
    assert isinstance(repo, DynamoCampaignRepository)

    class DiesOnce(DynamoCampaignRepository):
        died = False

        def save_progress(self, before: Campaign, after: Campaign) -> bool:
            if after.cursor is not None and not DiesOnce.died:
                DiesOnce.died = True
                raise SystemExit("Lambda timed out after sending the page")
            return super().save_progress(before, after)

    cw.use(campaign_repo=DiesOnce(repo._client, repo._table, cw.cloud.settings.journeys_table))
    # Given a campaign whose first page was sent but whose progress was never saved
    cw.campaign(variants=[{"name": "A", "message_id": "spring-a"}])
    with pytest.raises(SystemExit):
        cw.tick()
    assert len(cw.mails()) == 4
    # When the next tick runs the page again
    cw.tick()
    # Then nobody got a second mail and the campaign completes with exact counts
    assert len(cw.mails()) == 4
    results = cw.results()
    assert results["total"]["sent"] == 4 and results["total"]["delivered"] == 4
    assert cw.http.get("/v1/campaigns/spring", headers=cw.auth).json()["status"] == "completed"


def test_line_campaign_goes_by_multicast_and_postbacks_count_as_clicks(cw: CampaignWorld) -> None:
    # Given three LINE friends in the segment and a message with a postback button
    for c in ("c-1", "c-2", "c-3"):
        cw.customer(c, line_user_id=LINE_USERS[c], email=None, phone=None)
    cw.enter("vip", "c-1", "c-2", "c-3")
    cw.message(
        "line-sale",
        email=None,
        sms=None,
        coupon=None,
        recommendations=0,
        line={
            "flex": {
                "type": "bubble",
                "body": {
                    "type": "box",
                    "layout": "vertical",
                    "contents": [{"type": "text", "text": "春のセール"}],
                },
                "footer": {
                    "type": "box",
                    "layout": "vertical",
                    "contents": [
                        {
                            "type": "button",
                            "action": {"type": "postback", "label": "気になる", "data": "want"},
                        }
                    ],
                },
            },
            "alt_text": "春のセール",
        },
    )
    cw.campaign(variants=[{"name": "A", "message_id": "line-sale"}])
    # When the dispatcher ticks (daytime in Japan: no quiet hours)
    cw.tick()
    # Then one multicast carries the same content to all three
    assert [r.path for r in cw.line.received] == ["/v2/bot/message/multicast"]
    request = cw.line.received[0]
    assert sorted(request.body["to"]) == sorted(LINE_USERS[c] for c in ("c-1", "c-2", "c-3"))
    assert request.headers.get("X-Line-Retry-Key")
    data = request.body["messages"][0]["contents"]["footer"]["contents"][0]["action"]["data"]
    assert data.startswith("kz1.") and len(data) <= 300

    # When c-2 taps the button (LINE's signed webhook tells us who)
    body = json.dumps(
        {
            "destination": "U" + "f" * 32,
            "events": [
                {
                    "type": "postback",
                    "mode": "active",
                    "timestamp": 1700000000000,
                    "webhookEventId": "01H",
                    "deliveryContext": {"isRedelivery": False},
                    "replyToken": "r",
                    "source": {"type": "user", "userId": LINE_USERS["c-2"]},
                    "postback": {"data": data},
                }
            ],
        }
    ).encode()
    tapped = cw.http.post(
        "/v1/webhooks/line",
        content=body,
        headers={"X-Line-Signature": _signed("line-secret", body)},
    )
    # Then it is a click on the campaign by c-2
    assert tapped.status_code == 200 and tapped.json()["postbacks"] == 1
    clicks = [e for e in cw.published.published if e.type == "message.clicked"]
    assert [
        (e.detail["customer_id"], e.detail["campaign_id"], e.detail["url"]) for e in clicks
    ] == [("c-2", "spring", "line-postback:want")]
    assert cw.results()["total"]["clicked"] == 1


def test_unconfirmed_line_multicast_is_never_resent_person_by_person(cw: CampaignWorld) -> None:
    # Given three LINE friends in the segment, and LINE failing every try of the multicast
    for c in ("c-1", "c-2", "c-3"):
        cw.customer(c, line_user_id=LINE_USERS[c], email=None, phone=None)
    cw.enter("vip", "c-1", "c-2", "c-3")
    cw.message(
        "line-note", email=None, sms=None, coupon=None, recommendations=0, line={"text": "お知らせ"}
    )
    cw.line.answer_next(*([500] * 20))
    cw.campaign(variants=[{"name": "A", "message_id": "line-note"}])

    # When the dispatcher ticks now and again later
    cw.tick()
    cw.clock.now += timedelta(hours=2)
    cw.tick()

    # Then LINE only ever saw the multicast (same retry key), never a push per person
    assert {r.path for r in cw.line.received} == {"/v2/bot/message/multicast"}
    assert len({r.headers.get("X-Line-Retry-Key") for r in cw.line.received}) == 1
    # And the three deliveries wait as dead letters an operator can see
    dead = cw.http.get("/v1/deliveries", params={"status": "dead_letter"}, headers=cw.auth).json()
    assert sorted(d["customer_id"] for d in dead) == ["c-1", "c-2", "c-3"]
    assert all(d["skip_reason"].startswith("multicast_unconfirmed") for d in dead)


def _mail_campaign(cw: CampaignWorld, subject: str = "春のセール") -> None:
    cw.message(
        "spring-mail",
        email={"subject": subject, "html": "<p>セール</p>", "text": "セール"},
        line=None,
        sms=None,
        coupon=None,
        recommendations=0,
    )
    cw.campaign(variants=[{"name": "A", "message_id": "spring-mail"}])


def test_one_member_whose_mail_fails_to_render_does_not_stop_the_campaign(
    cw: CampaignWorld,
) -> None:
    # Given three members; the subject needs a first name, which c-2 does not have
    _mail_only(cw, "c-1", "c-3")
    cw.customer("c-2", email="c-2@example.jp", line_user_id=None, phone=None, first_name=None)
    cw.enter("vip", "c-1", "c-2", "c-3")
    _mail_campaign(cw, subject="{{ customer.first_name.strip() }}様、春のセール")
    # When the dispatcher ticks
    summary = cw.tick()["campaigns"]["spring"]
    # Then the campaign completes: c-1 and c-3 get their mail
    assert summary["status"] == "completed"
    assert sorted(str(m.destinations[0]) for m in cw.mails()) == [
        "c-1@example.jp",
        "c-3@example.jp",
    ]
    # And c-2's delivery failed with the field that did not render, visible in the log
    failed = cw.http.get("/v1/deliveries", params={"status": "failed"}, headers=cw.auth).json()
    assert [(d["customer_id"], d["skip_reason"]) for d in failed] == [
        ("c-2", "render_error:email.subject")
    ]
    assert cw.http.get("/v1/deliveries", params={"status": "sending"}, headers=cw.auth).json() == []
    got = cw.http.get("/v1/campaigns/spring", headers=cw.auth).json()
    assert got["skipped"] == {"failed": 1}
    # And a later tick sends nothing more
    cw.tick()
    assert len(cw.mails()) == 2


def test_a_provider_that_raises_for_one_member_does_not_strand_the_others(
    cw: CampaignWorld,
) -> None:
    # Given three members, and a mail provider that raises for c-2 instead of answering
    _mail_only(cw, "c-1", "c-2", "c-3")
    cw.enter("vip", "c-1", "c-2", "c-3")
    mail = cw.container.adapters.channels["email"]

    class RaisesForOne(Channel):
        name = "email"
        supports_html = supports_subject = True

        def send(self, message: OutboundMessage) -> SendResult:
            if message.to == "c-2@example.jp":
                raise RuntimeError("SDK bug")
            return mail.send(message)

    cw.container.adapters.channels["email"] = RaisesForOne()
    _mail_campaign(cw)
    # When the dispatcher ticks
    assert cw.tick()["campaigns"]["spring"]["status"] == "completed"
    # Then c-1 and c-3 got their mail; c-2's unconfirmed send is a dead letter, not a
    # claim stuck in `sending` and not a resend
    assert sorted(str(m.destinations[0]) for m in cw.mails()) == [
        "c-1@example.jp",
        "c-3@example.jp",
    ]
    dead = cw.http.get("/v1/deliveries", params={"status": "dead_letter"}, headers=cw.auth).json()
    assert [(d["customer_id"], d["skip_reason"]) for d in dead] == [("c-2", "error:RuntimeError")]
    assert cw.http.get("/v1/deliveries", params={"status": "sending"}, headers=cw.auth).json() == []


def _line_friends(cw: CampaignWorld) -> None:
    for c in ("c-1", "c-3"):
        cw.customer(c, line_user_id=LINE_USERS[c], email=None, phone=None)
    cw.customer("c-2", line_user_id=LINE_USERS["c-2"], email="c-2@example.jp", phone=None)
    cw.enter("vip", "c-1", "c-2", "c-3")
    cw.message(
        "line-note",
        sms=None,
        coupon=None,
        recommendations=0,
        line={"text": "お知らせ"},
        email={"subject": "お知らせ", "html": "<p>お知らせ</p>", "text": "お知らせ"},
    )
    cw.campaign(variants=[{"name": "A", "message_id": "line-note"}])


def test_a_multicast_refused_for_an_unknown_user_goes_person_by_person(cw: CampaignWorld) -> None:
    # Given three LINE friends (c-2 also has mail); LINE refuses the multicast for an
    # unknown user id, which turns out to be c-2's
    _line_friends(cw)
    cw.line.answer_next(INVALID_TO, 200, INVALID_TO, 200)
    # When the dispatcher ticks
    cw.tick()
    # Then each person got a push; c-2's failed and went by mail instead
    paths = [r.path.rsplit("/", 1)[1] for r in cw.line.received]
    assert paths == ["multicast", "push", "push", "push"]
    assert [str(m.destinations[0]) for m in cw.mails()] == ["c-2@example.jp"]
    by_customer = {
        d["customer_id"]: (d["status"], d["channel"])
        for d in cw.http.get("/v1/deliveries", headers=cw.auth).json()
    }
    assert by_customer == {
        "c-1": ("sent", "line"),
        "c-2": ("sent", "email"),
        "c-3": ("sent", "line"),
    }
    assert cw.results()["total"]["delivered"] == 3
    unreachable = {
        c: person.unreachable
        for c in ("c-1", "c-2", "c-3")
        if (person := cw.container.adapters.recipients.get("acme", c)) is not None
    }
    assert unreachable == {"c-1": frozenset(), "c-2": {"line"}, "c-3": frozenset()}


def test_a_multicast_refused_for_its_content_falls_back_without_pushes(cw: CampaignWorld) -> None:
    # Given LINE refuses the multicast's content
    _line_friends(cw)
    cw.line.answer_next(BAD_CONTENT)
    # When the dispatcher ticks
    cw.tick()
    # Then no push repeats the refused content; c-2 gets mail, the others fail with the reason
    assert [r.path for r in cw.line.received] == ["/v2/bot/message/multicast"]
    assert [str(m.destinations[0]) for m in cw.mails()] == ["c-2@example.jp"]
    by_customer = {
        d["customer_id"]: (d["status"], d["skip_reason"])
        for d in cw.http.get("/v1/deliveries", headers=cw.auth).json()
    }
    assert by_customer == {
        "c-1": ("failed", "http_400:messages[0].text"),
        "c-2": ("sent", None),
        "c-3": ("failed", "http_400:messages[0].text"),
    }
    # And nobody is marked unreachable on LINE for it
    for c in ("c-1", "c-2", "c-3"):
        person = cw.container.adapters.recipients.get("acme", c)
        assert person is not None and person.unreachable == frozenset()


def test_the_dispatcher_runs_campaigns_even_when_due_sends_fail(cw: CampaignWorld) -> None:
    # Given a campaign, and the due-send query failing (DynamoDB throttling)
    _mail_only(cw, "c-1")
    cw.enter("vip", "c-1")
    _mail_campaign(cw)
    deliveries = cw.container.adapters.deliveries
    assert isinstance(deliveries, DynamoDeliveryRepository)

    class Throttled(DynamoDeliveryRepository):
        def due(self, now: datetime, limit: int) -> list[DueEntry]:
            error = {"Error": {"Code": "ProvisionedThroughputExceededException"}}
            raise ClientError(error, "Query")  # type: ignore[arg-type]

    cw.use(
        deliveries=Throttled(
            deliveries._client, deliveries._table, cw.cloud.settings.journeys_table
        )
    )
    # When the dispatcher ticks
    summary = cw.tick()
    # Then the campaign still ran, and the failed step is named in the summary
    assert summary["campaigns"]["spring"]["status"] == "completed"
    assert len(cw.mails()) == 1
    assert summary["errors"] == {"due_steps": "ClientError"}
