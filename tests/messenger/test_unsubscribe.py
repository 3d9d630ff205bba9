"""One-click unsubscribe (RFC 8058) from the welcome mail and marketing mail, without a
login: per channel and category, or from every channel at once."""

from __future__ import annotations

import re
from email.header import decode_header, make_header

from fastapi.testclient import TestClient

from messenger.entrypoints import events as messenger_events
from segmenter.entrypoints import events as segmenter_events
from shared import clock as shared_clock
from tests.conftest import Cloud, OrderFactory, ShopKeys, placed_today, segment_writer
from tests.messenger.test_messaging import World, sms_sent


def _raw_headers(raw: str) -> list[str]:
    """The header lines of a mail exactly as SES received them (folded lines as they are)."""
    head = raw.replace("\r\n", "\n").split("\n\n", 1)[0]
    return head.split("\n")


def _raw_header(raw: str, name: str) -> str:
    """A header's raw text on the wire, its folded continuation lines joined."""
    lines = _raw_headers(raw)
    for i, line in enumerate(lines):
        if line.lower().startswith(name.lower() + ":"):
            folded = []
            for x in lines[i + 1 :]:
                if not x[:1].isspace():
                    break
                folded.append(x)
            return "\r\n".join([line.split(":", 1)[1].lstrip(), *folded])
    raise AssertionError(f"no {name} header on the wire")


def _unsubscribe_path(cloud: Cloud) -> str:
    """The one-click link as a mail client reads it: the raw header, not a decoded one."""
    raw = _raw_header(cloud.sent_mail()[-1].raw_data, "List-Unsubscribe")
    match = re.fullmatch(r"<https://kizuna\.test(/u/[A-Za-z0-9._-]+)>", raw)
    assert match, raw
    return match.group(1)


def test_one_click_unsubscribe_stops_marketing_mail(
    cloud: Cloud,
    segmenter_client: TestClient,
    messenger_client: TestClient,
    shop: ShopKeys,
    new_order: OrderFactory,
) -> None:
    # Given a customer received a welcome mail
    cloud.route_rules_to_queues()
    segmenter_client.post(
        "/v1/orders", json=new_order(1, placed_at=placed_today(1)), headers=shop.header(shop.events)
    )
    for e in cloud.take_events("MessengerEventsFunction"):
        messenger_events.handler(e, None)
    path = _unsubscribe_path(cloud)

    # When a link scanner GETs the link, nothing changes; the page offers a button
    page = messenger_client.get(path)
    assert page.status_code == 200
    assert "form" in page.text

    # When the mail client posts the one-click unsubscribe (twice: idempotent)
    for _ in range(2):
        done = messenger_client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200

    # Then the next marketing mail for that customer is not sent
    from messenger.entrypoints.events import container

    assert container().adapters.deliveries.is_unsubscribed("acme", "c-1", "email", "marketing")


def _deliver(cloud: Cloud, function: str) -> list[str]:
    """Hand what the function's rule delivered to its handler, as Lambda would; the types."""
    handler = {
        "MessengerEventsFunction": messenger_events.handler,
        "SegmenterEventsFunction": segmenter_events.handler,
    }[function]
    delivered = cloud.take_events(function)
    for event in delivered:
        handler(event, None)
    return [e["detail-type"] for e in delivered]


def test_an_unsubscribe_reaches_the_segmenter_profile_and_consent_segments(
    cloud: Cloud,
    segmenter_client: TestClient,
    messenger_client: TestClient,
    shop: ShopKeys,
    new_order: OrderFactory,
) -> None:
    # Given an opted-in customer in a segment built on mail consent, who got a welcome mail
    cloud.route_rules_to_queues()
    segmenter_client.post(
        "/v1/orders", json=new_order(1, placed_at=placed_today(1)), headers=shop.header(shop.events)
    )
    writer = segment_writer(segmenter_client, shop)
    created = segmenter_client.post(
        "/v1/segments",
        json={
            "segment_id": "mail-ok",
            "name": "Mail marketing allowed",
            "rule": {"field": "consents", "op": "contains", "value": "email:marketing"},
        },
        headers=writer,
    )
    assert created.status_code == 201, created.text
    cloud.deliver("SegmenterEventsFunction")  # counted by the segmenter's event function
    got = segmenter_client.get("/v1/segments/mail-ok", headers=writer).json()
    assert (got["status"], got["member_count"]) == ("ready", 1)
    assert "order.placed" in _deliver(cloud, "MessengerEventsFunction")
    path = _unsubscribe_path(cloud)

    # When their mail client posts the one-click unsubscribe, twice (a retry)
    for _ in range(2):
        done = messenger_client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
    # And the segmenter's rule delivers what the bus carried to its handler, twice over
    delivered = _deliver(cloud, "SegmenterEventsFunction")
    assert delivered == ["consent.withdrawn", "consent.withdrawn"]

    # Then the profile says mail marketing consent is withdrawn, by the unsubscribe link
    profile = segmenter_client.get("/v1/customers/c-1", headers=shop.header(shop.reader))
    consents = {(c["channel"], c["category"]): c for c in profile.json()["consents"]}
    withdrawn = consents[("email", "marketing")]
    assert (withdrawn["granted"], withdrawn["source"]) == (False, "unsubscribe_link")
    assert withdrawn["recorded_at"].startswith("2026-11-23T03:00:00")
    # And the consent-based segment no longer holds them
    members = segmenter_client.get(
        "/v1/segments/mail-ok/members", headers=shop.header(shop.reader)
    ).json()
    assert members["customer_ids"] == []
    assert "mail-ok" not in profile.json()["segments"]


def test_tampered_unsubscribe_link_is_refused(cloud: Cloud, messenger_client: TestClient) -> None:
    from messenger.domain.links import UnsubscribeRequest, sign_unsubscribe

    token = sign_unsubscribe(
        cloud.settings.signing_secret.get_secret_value(),
        UnsubscribeRequest("acme", "c-1", "email", "marketing"),
    )
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    forged = sign_unsubscribe(
        "another-secret", UnsubscribeRequest("acme", "c-2", "email", "marketing")
    )

    for bad in (tampered, forged):
        response = messenger_client.post(f"/u/{bad}")
        assert response.status_code == 422
        assert response.json()["error"]["fields"][0]["field"] == "token"


def _receipt(world: World) -> None:
    world.message(
        "receipt",
        category="transactional",
        email={
            "subject": "ご注文確認",
            "html": "<p>ご注文ありがとうございます</p>",
            "text": "確認",
        },
        line=None,
        sms=None,
    )


def test_after_one_click_unsubscribe_marketing_mail_stops_and_receipts_still_go(
    world: World,
) -> None:
    # Given a customer got a marketing mail
    world.policy(channel_order=["email"])
    world.customer()
    world.message()
    _receipt(world)
    assert world.send(anchor="a-1")["status"] == "sent"
    # When their mail client posts the one-click unsubscribe from its header
    path = _unsubscribe_path(world.cloud)
    assert world.http.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    # Then the next marketing mail is skipped, and a transactional mail still goes
    marketing = world.send(anchor="a-2")
    receipt = world.send("receipt", "order-1")
    assert (marketing["status"], marketing["reason"]) == ("skipped", "unsubscribed")
    assert (receipt["status"], receipt["channel"]) == ("sent", "email")
    assert len(world.mails()) == 2


def test_one_click_headers_go_out_plain_and_a_japanese_subject_stays_encoded(
    world: World,
) -> None:
    # Given a customer and a marketing mail with a Japanese subject
    world.policy(channel_order=["email"])
    world.customer()
    world.message()
    # When it is sent
    assert world.send(anchor="a-1")["status"] == "sent"
    raw = world.mails()[-1].raw_data
    # Then SES received List-Unsubscribe as the plain <https://…> form on one line, with
    # the real signed link (longer than 78 characters, so the default policy would
    # have RFC 2047-encoded it), and the RFC 8058 one-click marker next to it
    lines = _raw_headers(raw)
    unsubscribe = [x for x in lines if x.startswith("List-Unsubscribe:")]
    assert len(unsubscribe) == 1
    assert re.fullmatch(
        r"List-Unsubscribe: <https://kizuna\.test/u/[A-Za-z0-9._-]+>", unsubscribe[0]
    )
    assert len(unsubscribe[0]) > 78 and "=?" not in unsubscribe[0]
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    # And every header line is ASCII within RFC 5322's 998 characters
    assert all(x.isascii() and len(x) <= 998 for x in lines)
    # And the Japanese subject is a valid RFC 2047 encoded header that reads back
    subject = _raw_header(raw, "Subject")
    assert subject.startswith("=?utf-8?")
    assert str(make_header(decode_header(subject))) == "山田様、冬のセール"
    # And the link on the wire unsubscribes with the one-click POST
    path = _unsubscribe_path(world.cloud)
    assert world.http.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    again = world.send(anchor="a-2")
    assert (again["status"], again["reason"]) == ("skipped", "unsubscribed")


def test_unsubscribing_from_every_channel_stops_line_and_sms_too(world: World) -> None:
    # Given a customer reachable on LINE, mail and SMS got a marketing mail
    world.policy(channel_order=["email", "line", "sms"])
    world.customer()
    world.message()
    assert world.send(anchor="a-1")["channel"] == "email"
    # When they choose "unsubscribe from every channel" on the unsubscribe page
    page = world.http.get(_unsubscribe_path(world.cloud))
    forms = re.findall(r'<form method="post" action="([^"]+)"', page.text)
    assert len(forms) == 2
    assert world.http.post(forms[1]).status_code == 200
    # Then marketing goes on no channel: not LINE, not SMS
    for order in (["line"], ["sms"], ["email", "line", "sms"]):
        world.policy(channel_order=order)
        outcome = world.send(anchor=f"after-{order[0]}-{len(order)}")
        assert (outcome["status"], outcome["reason"]) == ("skipped", "unsubscribed")
    assert world.line.received == [] and sms_sent(world) == [] and len(world.mails()) == 1


def test_an_unsubscribe_of_someone_the_segmenter_does_not_know_creates_no_profile(
    cloud: Cloud, segmenter_client: TestClient, shop: ShopKeys
) -> None:
    # Given an address the messenger knows only from a request (an anonymous sign-up)
    from messenger.domain.links import UnsubscribeRequest
    from messenger.services.common import consent_withdrawn

    event = consent_withdrawn(
        UnsubscribeRequest("acme", "addr-0123456789abcdef01234567", "email", "marketing"),
        shared_clock.now(),
    )
    # When its unsubscribe reaches the segmenter
    segmenter_events.handler({"detail": event.model_dump(mode="json")}, None)
    # Then no customer appears there
    found = segmenter_client.get(
        "/v1/customers/addr-0123456789abcdef01234567", headers=shop.header(shop.reader)
    )
    assert found.status_code == 404
