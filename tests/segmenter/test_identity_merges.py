"""Identity merges are visible: the event that proves two profiles are one person publishes
`customer.merged` on the bus (ids only), once per merge however often the event is
replayed, and the survivor's profile lists the ids merged into it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Cloud, ShopKeys

YUI = {"customer_id": "c-1", "email": "yui@example.jp"}
YUI_BY_PHONE = {"customer_id": "c-2", "phone": "09011112222"}
YUI_BY_LINE = {"customer_id": "c-3", "line_user_id": "U" + "a" * 32}
LINK = {
    "type": "customer.upserted",
    "event_id": "link-1",
    "customer": {"customer_id": "c-1", "email": "yui@example.jp", "phone": "090-1111-2222"},
}


def _order(order_id: str, customer: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "order.placed",
        "event_id": f"e-{order_id}",
        "order_id": order_id,
        "placed_at": "2026-11-11T10:00:00+09:00",
        "total": "3980",
        "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980"}],
        "customer": customer,
    }


def _post(api: TestClient, shop: ShopKeys, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/events", json=body, headers=shop.header(shop.events))
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def _profile(api: TestClient, shop: ShopKeys, customer_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/customers/{customer_id}", headers=shop.header(shop.reader))
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture
def merges_on_the_bus(cloud: Cloud) -> str:
    """A queue that an EventBridge rule fills with every `customer.merged` on the bus, as a
    consumer's rule would."""
    url = cloud.sqs.create_queue(QueueName="merges")["QueueUrl"]
    arn = cloud.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    cloud.events.put_rule(
        Name="merges",
        EventBusName=cloud.settings.event_bus_name,
        EventPattern=json.dumps(
            {"source": ["kizuna.segmenter"], "detail-type": ["customer.merged"]}
        ),
    )
    cloud.events.put_targets(
        Rule="merges",
        EventBusName=cloud.settings.event_bus_name,
        Targets=[{"Id": "queue", "Arn": arn["Attributes"]["QueueArn"]}],
    )
    return str(url)


def _bodies(cloud: Cloud, url: str) -> list[str]:
    """Every message body the rule delivered so far (the bytes a consumer would get)."""
    out: list[str] = []
    while messages := cloud.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for m in messages:
            out.append(m["Body"])
            cloud.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def test_a_merge_is_published_once_with_ids_only_and_the_profile_lists_them(
    api: TestClient, shop: ShopKeys, cloud: Cloud, merges_on_the_bus: str
) -> None:
    # Given one person known twice: c-1 by email, c-2 by phone, each with an order
    _post(api, shop, _order("A-1", YUI))
    _post(api, shop, _order("B-1", YUI_BY_PHONE))
    assert _bodies(cloud, merges_on_the_bus) == []
    assert _profile(api, shop, "c-1")["merged_ids"] == []

    # When an upsert names the email and the phone together, and is then replayed
    first = _post(api, shop, LINK)
    replayed = _post(api, shop, LINK)
    # And a later event names both again
    _post(api, shop, {**LINK, "event_id": "link-2"})

    # Then the bus carried one customer.merged event id (the replay re-sends the same id,
    # which consumers deduplicate; the later event merged nothing)
    assert (first["status"], replayed["status"]) == ("accepted", "duplicate")
    bodies = _bodies(cloud, merges_on_the_bus)
    events = [json.loads(b) for b in bodies]
    assert {e["detail"]["id"] for e in events} == {"link-1:customer.merged"}
    assert len(events) == 2
    (envelope,) = {json.dumps(e["detail"], sort_keys=True) for e in events}
    sent = json.loads(envelope)
    assert (sent["type"], sent["shop"]) == ("customer.merged", "acme")
    assert sent["detail"] == {"customer_id": "c-1", "merged_ids": ["c-2"], "caused_by": "link-1"}
    # And no contact data travelled with it
    for body in bodies:
        assert "yui@example.jp" not in body and "1111" not in body and "2222" not in body
    # And the profile lists the merged id, read by either id
    assert _profile(api, shop, "c-1")["merged_ids"] == ["c-2"]
    assert _profile(api, shop, "c-2")["merged_ids"] == ["c-2"]
    assert _profile(api, shop, "c-2")["customer_id"] == "c-1"


def test_a_merge_of_a_profile_that_had_absorbed_another_names_both(
    api: TestClient, shop: ShopKeys, cloud: Cloud, merges_on_the_bus: str
) -> None:
    # Given c-3 (LINE) merged into c-2 (phone) earlier, and c-1 by email apart
    _post(api, shop, _order("A-1", YUI))
    _post(api, shop, _order("B-1", YUI_BY_PHONE))
    _post(api, shop, _order("C-1", YUI_BY_LINE))
    both = {"customer_id": "c-2", "phone": "09011112222", "line_user_id": "U" + "a" * 32}
    _post(api, shop, {"type": "customer.upserted", "event_id": "link-0", "customer": both})
    assert _profile(api, shop, "c-2")["merged_ids"] == ["c-3"]

    # When the email and the phone meet in one event
    _post(api, shop, LINK)

    # Then the second merge names every id that now resolves to c-1
    merges = [json.loads(b)["detail"] for b in _bodies(cloud, merges_on_the_bus)]
    assert [(m["id"], m["detail"]["customer_id"], m["detail"]["merged_ids"]) for m in merges] == [
        ("link-0:customer.merged", "c-2", ["c-3"]),
        ("link-1:customer.merged", "c-1", ["c-2", "c-3"]),
    ]
    # And the survivor's profile lists both, with all three orders
    survivor = _profile(api, shop, "c-3")
    assert (survivor["customer_id"], survivor["merged_ids"]) == ("c-1", ["c-2", "c-3"])
    assert survivor["order_count"] == 3
