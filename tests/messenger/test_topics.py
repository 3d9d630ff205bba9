"""Unsubscribe topics: a marketing mail sent under a topic (step mails, newsletter, ...)
carries a link that leaves just that topic, on every channel; the rest keeps coming. The
segmenter folds the topic into the profile and rules read it."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from segmenter.entrypoints import events as segmenter_events
from tests.conftest import Cloud, OrderFactory, ShopKeys, segment_writer
from tests.messenger.test_messaging import World
from tests.messenger.test_unsubscribe import _raw_header


def _link_path(world: World) -> str:
    """The one-click link as a mail client reads it off the wire (the raw MIME header)."""
    raw = _raw_header(world.mails()[-1].raw_data, "List-Unsubscribe")
    match = re.fullmatch(r"<https://kizuna\.test(/u/[A-Za-z0-9._-]+)>", raw)
    assert match, raw
    return match.group(1)


def _mail_world(world: World) -> None:
    world.customer()
    world.message()
    world.policy(channel_order=["email"], cap_count=20)


def test_leaving_one_topic_stops_that_topic_and_not_the_others(world: World) -> None:
    """Given a step mail went out under the topic `step_mails`
    When the person opens its List-Unsubscribe link and presses "this topic only"
    Then later step mails are skipped as unsubscribed, on every channel, while a
    newsletter (another topic) and a topic-less marketing send still go out."""
    _mail_world(world)
    assert world.send(anchor="step-1", topic="step_mails")["status"] == "sent"
    path = _link_path(world)

    page = world.http.get(path)
    assert page.status_code == 200
    assert "step_mails" in page.text and "Unsubscribe from this topic only" in page.text
    assert "Unsubscribe from all" in page.text
    # The mail client's one-click POST (and a retry of it)
    for _ in range(2):
        assert world.http.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200

    skipped = world.send(anchor="step-3", topic="step_mails")
    assert (skipped["status"], skipped["reason"]) == ("skipped", "unsubscribed")
    world.policy(channel_order=["line", "email"], cap_count=20)
    on_line = world.send(anchor="step-5", topic="step_mails")
    assert (on_line["status"], on_line["reason"]) == ("skipped", "unsubscribed")
    assert world.line.received == []
    world.policy(channel_order=["email"], cap_count=20)
    assert world.send(anchor="news-1", topic="newsletter")["status"] == "sent"
    assert world.send(anchor="plain-1")["status"] == "sent"
    assert len(world.mails()) == 3


def test_leave_all_from_a_topic_link_stops_every_marketing_message(world: World) -> None:
    """Given a newsletter mail's unsubscribe page
    When the person presses "unsubscribe from all" (the page's second form)
    Then no marketing message goes out on any topic or channel; a transactional one does."""
    _mail_world(world)
    assert world.send(anchor="news-1", topic="newsletter")["status"] == "sent"
    page = world.http.get(_link_path(world)).text
    forms = re.findall(r'<form method="post" action="(/u/[^"]+)">', page)
    assert len(forms) == 2
    assert world.http.post(forms[1]).status_code == 200

    for anchor, topic in (("step-1", "step_mails"), ("news-2", "newsletter"), ("x", None)):
        body: dict[str, Any] = {"topic": topic} if topic else {}
        out = world.send(anchor=anchor, **body)
        assert (out["status"], out["reason"]) == ("skipped", "unsubscribed")
    world.message("receipt", category="transactional")
    assert world.send("receipt", anchor="order-1", topic="newsletter")["status"] == "sent"


def test_a_bad_topic_is_a_422_naming_the_field(world: World) -> None:
    _mail_world(world)
    r = world.http.post(
        "/v1/messages/sale/sends",
        json={"customer_id": "c-1", "anchor": "a", "topic": "Step Mails!"},
        headers=world.auth,
    )
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "topic"
    assert world.mails() == []


def test_a_topic_unsubscribe_reaches_the_segmenter_and_rules_read_it(
    cloud: Cloud,
    world: World,
    segmenter_client: TestClient,
    shop: ShopKeys,
    new_order: OrderFactory,
) -> None:
    """Given a customer profile in the segmenter and a segment "may get step mails"
    When they leave the step_mails topic through the link of a step mail
    Then `consent.withdrawn` carries the topic, the profile records it, and the segment
    no longer holds them (their mail marketing consent as such stays granted)."""
    cloud.route_rules_to_queues()
    segmenter_client.post("/v1/orders", json=new_order(1), headers=shop.header(shop.events))
    writer = segment_writer(segmenter_client, shop)
    rule = {"not": {"field": "unsubscribed_topics", "op": "contains", "value": "step_mails"}}
    created = segmenter_client.post(
        "/v1/segments",
        json={"segment_id": "step-ok", "name": "May get step mails", "rule": rule},
        headers=writer,
    )
    assert created.status_code == 201, created.text
    derived = segmenter_client.post(
        "/v1/segments",
        json={
            "segment_id": "step-ok-2",
            "name": "May get step mails (topic consent)",
            "rule": {"field": "consent.topic.step_mails", "op": "eq", "value": True},
        },
        headers=writer,
    )
    assert derived.status_code == 201, derived.text
    cloud.deliver("SegmenterEventsFunction")  # both counted by the segmenter's events
    for segment_id in ("step-ok", "step-ok-2"):
        got = segmenter_client.get(f"/v1/segments/{segment_id}", headers=writer).json()
        assert (got["status"], got["member_count"]) == ("ready", 1)

    _mail_world(world)
    assert world.send(anchor="step-1", topic="step_mails")["status"] == "sent"
    assert world.http.post(_link_path(world)).status_code == 200

    delivered = cloud.take_events("SegmenterEventsFunction")
    withdrawn = [e for e in delivered if e["detail-type"] == "consent.withdrawn"]
    assert len(withdrawn) == 1
    detail = withdrawn[0]["detail"]
    detail = json.loads(detail) if isinstance(detail, str) else detail
    assert detail["detail"]["topic"] == "step_mails"
    assert detail["detail"]["channel"] == "all"
    for event in delivered:
        segmenter_events.handler(event, None)

    profile = segmenter_client.get("/v1/customers/c-1", headers=shop.header(shop.reader)).json()
    consents = {(c["channel"], c["category"]): c["granted"] for c in profile["consents"]}
    assert consents[("email", "topic:step_mails")] is False
    assert consents[("email", "marketing")] is True
    for segment_id in ("step-ok", "step-ok-2"):
        members = segmenter_client.get(
            f"/v1/segments/{segment_id}/members", headers=shop.header(shop.reader)
        ).json()
        assert members["customer_ids"] == [], segment_id

    # And the customer's next order still flows to the messenger (topic consents stay out
    # of the customer snapshot, whose categories are marketing and transactional)
    placed = segmenter_client.post(
        "/v1/orders", json=new_order(2), headers=shop.header(shop.events)
    )
    assert placed.status_code == 201, placed.text
    to_messenger = cloud.take_events("MessengerEventsFunction")
    assert "order.placed" in [e["detail-type"] for e in to_messenger]
