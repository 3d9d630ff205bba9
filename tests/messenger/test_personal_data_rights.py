"""Personal-data rights on the messenger (APPI, GDPR): an admin reads out what the
messenger holds on a person, and `customer.erased` makes it forget them, once, however
often the event arrives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.contracts import details
from tests.conftest import Cloud, ShopKeys, make_shop
from tests.messenger.journey_world import JourneyWorld, post_purchase, step_mails_world

ERASURE = "erasure-test-1"


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    """Hanako (c-1) and Taro (c-2), each with a first order that shipped, in the step-mail
    journey, a day on: each has a recipient record, deliveries and an enrolment."""
    w = step_mails_world(cloud, shop)
    w.journey(post_purchase())
    w.customer("c-2", last_name="佐藤", first_name="太郎", line_user_id="U-taro")
    w.customer("c-1", line_user_id="U-hanako")
    for customer_id in ("c-1", "c-2"):
        w.order(f"o-{customer_id}", customer_id)
        w.shipped(f"o-{customer_id}", customer_id)
    w.run_for(2)
    return w


def _export(world: JourneyWorld, token: str, customer_id: str) -> dict[str, Any]:
    r = world.http.get(
        f"/v1/messenger/customers/{customer_id}/export",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _erase(world: JourneyWorld, *customer_ids: str) -> dict[str, Any]:
    detail = details.CustomerErased(
        erasure_id=ERASURE,
        customer_ids=list(customer_ids),
        requested_by="key-admin",
        requested_at=world.clock.now,
    )
    return world.event("customer.erased", detail.model_dump(mode="json"), event_id=ERASURE)


def _visible(world: JourneyWorld) -> str:
    """What the messenger's routes show of the shop's people."""
    return "\n".join(
        world.http.get(path, params=params, headers=world.auth).text
        for path, params in (
            ("/v1/deliveries", {}),
            ("/v1/deliveries", {"customer_id": "c-1"}),
            ("/v1/journeys/post-purchase/stats", {}),
            ("/v1/journeys/post-purchase/customers", {"metric": "entered"}),
            ("/v1/journeys/post-purchase/customers", {"metric": "sent", "step": "mail-1"}),
        )
    )


def test_the_export_holds_the_recipient_deliveries_and_enrolments_of_this_shop_only(
    world: JourneyWorld, shop: ShopKeys, cloud: Cloud
) -> None:
    """Given Hanako and Taro, each mailed by the step-mail journey
    When acme's admin exports Hanako, and another shop's admin exports c-1
    Then acme's export holds her address, name, consents, deliveries and enrolment, and
    nothing of Taro; the other shop's export is empty; a reader key is refused."""
    exported = _export(world, shop.admin, "c-1")

    assert exported["service"] == "messenger"
    [recipient] = exported["recipient"]
    assert (recipient["email"], recipient["last_name"]) == ("c-1@example.jp", "山田")
    assert recipient["consents"]
    assert exported["deliveries"] and exported["journey_enrolments"]
    assert [n["journey"] for n in exported["journey_numbers"]] == ["post-purchase"]
    [week] = exported["journey_weeks"]  # her share of the week her mail went in
    assert (week["journey"], week["customer_id"], int(week["sent"])) == ("post-purchase", "c-1", 1)
    # and the mark that counted her once among that week's people sent to
    assert [(m["week"], m["metric"]) for m in exported["week_marks"]] == [(week["week"], "sent")]
    assert {d["customer_id"] for d in exported["deliveries"]} == {"c-1"}
    text = json.dumps(exported, ensure_ascii=False)
    assert "c-2" not in text and "佐藤" not in text
    other = make_shop(cloud, "beta")
    assert not any(_export(world, other.admin, "c-1").get(k) for k in ("recipient", "deliveries"))
    refused = world.http.get("/v1/messenger/customers/c-1/export", headers=world.auth)
    assert refused.status_code == 403


def test_after_erasure_the_messenger_forgets_her_once_and_keeps_the_counters(
    world: JourneyWorld, shop: ShopKeys, cloud: Cloud
) -> None:
    """Given Hanako and Taro in the step-mail journey
    When `customer.erased` names Hanako, and is delivered again
    Then no route shows her, her export is empty, no item of the messenger's tables holds
    her id, address or LINE id; the journey's counters stay; Taro is untouched; the
    erasure's status says done with the counts of the first delivery; and no further
    step mail goes to her."""
    stats_before = world.stats()
    taro_before = _export(world, shop.admin, "c-2")
    assert "c-1" in _visible(world)

    first = _erase(world, "c-1")
    again = _erase(world, "c-1")

    assert first["status"] == again["status"] == "done"
    assert "c-1@example.jp" not in _visible(world)
    assert "c-1" not in _visible(world)
    assert not any(v for k, v in _export(world, shop.admin, "c-1").items() if k != "service")
    for table in (cloud.settings.messenger_table, cloud.settings.journeys_table):
        items = json.dumps(cloud.dynamodb.scan(TableName=table)["Items"], ensure_ascii=False)
        for value in ("#c-1", "c-1@", "c-1|", '"c-1"', "U-hanako", "o-c-1"):
            assert value not in items, (table, value)
    assert world.stats() == stats_before
    assert _export(world, shop.admin, "c-2") == taro_before
    status = world.http.get(
        f"/v1/messenger/erasures/{ERASURE}", headers={"Authorization": f"Bearer {shop.admin}"}
    )
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["status"] == "done" and body["requested_by"] == "key-admin"
    assert body["removed"]["recipient"] == 1 and body["removed"]["line_links"] == 1
    assert body["removed"]["deliveries"] >= 1 and body["removed"]["journey_enrolments"] == 1
    assert body["removed"]["journey_numbers"] == 1  # her enrolment's copy of the numbers
    assert body["removed"]["journey_weeks"] == 1  # and its share of the week
    assert body["removed"]["week_marks"] == 1  # and the mark counting her in its people
    assert "c-1" not in status.text
    sent_before = len(cloud.sent_mail())
    world.run_for(30)
    later = [m.raw_data for m in cloud.sent_mail()[sent_before:]]
    assert len(later) == 6  # Taro's steps of days 3, 5, 7, 14, 21 and 30
    assert not any("c-1@example.jp" in raw for raw in later)


def test_an_erasure_reaches_the_birthday_calendar_and_the_wish_lists(
    world: JourneyWorld, cloud: Cloud
) -> None:
    """Given back-in-stock and birthday enabled, and Hana (c-3), whose profile has a
    birthday and who viewed a sold-out SKU (entries kept outside her own partition:
    the calendar's day, the SKU's wish list)
    When she is erased
    Then neither table holds her id any more, the daily birthday scan finds nobody, and
    the SKU's return tells nobody."""
    for name in ("back-in-stock", "birthday"):
        r = world.http.post(f"/v1/journeys/builtins/{name}/enable", headers=world.auth)
        assert r.status_code == 200, r.text
    birthday = world.clock.now.date().replace(year=1990).isoformat()
    snapshot = {"customer_id": "c-3", "email": "c-3@example.jp"}
    world.event("customer.upserted", {"customer": snapshot, "birthday": birthday})
    world.event("inventory.changed", {"sku": "SOLD-1", "previous_quantity": 1, "quantity": 0})
    seen = {"customer_id": "c-3", "sku": "SOLD-1", "viewed_at": world.clock.now.isoformat()}
    world.event("product.viewed", seen)
    journeys_table = cloud.settings.journeys_table
    before = json.dumps(cloud.dynamodb.scan(TableName=journeys_table)["Items"])
    assert before.count("#c-3") >= 3  # her partition, the calendar, the wish list

    done = _erase(world, "c-3")

    assert done["status"] == "done"
    for table in (cloud.settings.messenger_table, journeys_table):
        items = json.dumps(cloud.dynamodb.scan(TableName=table)["Items"], ensure_ascii=False)
        assert "c-3" not in items, table
    facts = world.container.adapters.journey_facts
    assert list(facts.born_on(birthday[5:10])) == []
    assert facts.wanting("acme", "SOLD-1", 10) == []


def _dead_letter(shop_id: str, customer_id: str, wrapped: bool = False) -> str:
    """A failed event as the queue keeps it: the EventBridge event, or a Lambda failure
    record carrying it as `requestPayload`."""
    envelope = {
        "id": f"e-{shop_id}-{customer_id}",
        "shop": shop_id,
        "type": "order.placed",
        "detail": {"customer": {"customer_id": customer_id, "email": f"{customer_id}@x.jp"}},
    }
    event = {"detail-type": "order.placed", "source": "kizuna.segmenter", "detail": envelope}
    return json.dumps({"requestPayload": event} if wrapped else event)


def test_an_erasure_sweeps_the_dead_letter_queue_of_her_events_only(
    cloud: Cloud, shop: ShopKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the events dead-letter queue holding Hanako's failed events (one as
    EventBridge put it there, one in a Lambda failure record), Taro's, and another shop's
    customer also called c-1
    When `customer.erased` names Hanako, and is delivered again
    Then her two dead letters are gone and counted; the other two are at once visible
    again, whole; the repeat removes nothing more."""
    from shared.settings import get_settings

    url = cloud.sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    monkeypatch.setenv("KIZUNA_EVENTS_DEAD_LETTER_QUEUE_URL", url)
    get_settings.cache_clear()
    world = JourneyWorld(cloud, shop)
    letters = [
        _dead_letter("acme", "c-1"),
        _dead_letter("acme", "c-1", wrapped=True),
        _dead_letter("acme", "c-2"),
        _dead_letter("beta", "c-1"),
    ]
    for body in letters:
        cloud.sqs.send_message(QueueUrl=url, MessageBody=body)

    first = _erase(world, "c-1")
    again = _erase(world, "c-1")

    assert first["status"] == again["status"] == "done"
    record = world.container.erasures.get("acme", ERASURE)
    assert record is not None and record.removed.get("dead_letters") == 2
    left = cloud.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in left) == sorted(letters[2:])
