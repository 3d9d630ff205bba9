"""Personal-data rights across the services, in-process under moto: the segmenter's
`DELETE /v1/customers/{id}` → EventBridge (the template's rules) → SQS → the messenger's
and the feedback service's handlers; each service's export before, and its routes and
erasure status after."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi.testclient import TestClient

from feedback.entrypoints import events as feedback_events
from messenger.entrypoints import events as messenger_events
from shared.auth.service import authenticate_token, create_key
from shared.log import JsonFormatter
from tests.conftest import Cloud, OrderFactory, ShopKeys, make_shop
from tests.feedback.conftest import SURVEY, answers

HANAKO = ('"c-1"', "hanako@example.jp")
"""Her id (as a JSON value: order ids such as `ord-c-1-1` are the shop's, and stay) and
address (the order factory gives Taro her first name too, so it tells nothing here)."""


def _deliver(cloud: Cloud, twice: bool = False) -> None:
    """Hand what the bus routed to the messenger and the feedback service (twice: as a
    redelivery would)."""
    for function, handler in (
        ("MessengerEventsFunction", messenger_events.handler),
        ("FeedbackEventsFunction", feedback_events.handler),
    ):
        for event in cloud.take_events(function):
            for _ in range(2 if twice else 1):
                handler(event, None)


def _exports(clients: dict[str, TestClient], shop: ShopKeys, customer_id: str) -> str:
    prefixes = {"segmenter": "/v1", "messenger": "/v1/messenger", "feedback": "/v1/feedback"}
    out = []
    for service, client in clients.items():
        r = client.get(
            f"{prefixes[service]}/customers/{customer_id}/export",
            headers=shop.header(shop.admin),
        )
        out.append(r.text if r.status_code == 200 else "")
    return "\n".join(out)


def test_one_erasure_reaches_every_service_and_no_route_shows_her_after(
    cloud: Cloud,
    segmenter_client: TestClient,
    messenger_client: TestClient,
    shop: ShopKeys,
    new_order: OrderFactory,
) -> None:
    """Given Hanako (c-1) and Taro (c-2) who ordered (so the messenger mailed them), and
    answered a survey, Hanako signed up for a restock, and another shop's c-1
    When acme's admin erases Hanako and the bus delivers `customer.erased` (twice)
    Then before, each service's export held her and nothing of the other shop; after,
    no export or listing of any service shows her id or address, Taro's data stays, and
    every service's status of the erasure is `done`; nothing logged names her."""
    from feedback.entrypoints.api import app as feedback_app

    cloud.route_rules_to_queues()
    feedback = TestClient(feedback_app)
    clients = {"segmenter": segmenter_client, "messenger": messenger_client, "feedback": feedback}
    other = make_shop(cloud, "beta")
    admin = authenticate_token(cloud.keys, shop.admin)
    storefront = shop.header(create_key(cloud.keys, admin, "sf", ["feedback:write"]).token)
    for customer_id, email in (("c-1", "hanako@example.jp"), ("c-2", "taro@example.jp")):
        body = new_order(1, customer_id=customer_id, email=email)
        assert segmenter_client.post("/v1/orders", json=body, headers=shop.header(shop.events))
    other_order = new_order(1, customer_id="c-1", email="kenji@beta.example")
    segmenter_client.post("/v1/orders", json=other_order, headers=other.header(other.events))
    assert feedback.post("/v1/surveys", json=SURVEY, headers=shop.header(shop.admin)).is_success
    for customer_id in ("c-1", "c-2"):
        answer = {"response_id": f"r-{customer_id}", "customer_id": customer_id}
        answered = feedback.post(
            "/v1/surveys/why-bought/responses",
            json={**answer, "answers": answers()},
            headers=storefront,
        )
        assert answered.status_code == 201, answered.text
    signup = {"sku": "SERUM-30", "channel": "email", "customer_id": "c-1"}
    assert feedback.post("/v1/restock/signups", json=signup, headers=storefront).is_success
    _deliver(cloud)
    before = _exports(clients, shop, "c-1")
    assert before.count("hanako@example.jp") >= 2 and "r-c-1" in before
    assert "kenji@beta.example" not in before and "taro@example.jp" not in before

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter().format(record))

    keep = Keep()
    logging.getLogger("kizuna").addHandler(keep)
    try:
        erased = segmenter_client.delete("/v1/customers/c-1", headers=shop.header(shop.admin))
        assert erased.status_code == 202, erased.text
        _deliver(cloud, twice=True)
    finally:
        logging.getLogger("kizuna").removeHandler(keep)
    assert lines, "the erasure logged nothing at all"
    for value in (*HANAKO, "c-1"):
        assert not [line for line in lines if value in line], value

    after = _exports(clients, shop, "c-1")
    listings = "\n".join(
        c.get(path, headers=shop.header(shop.admin)).text
        for c, path in (
            (segmenter_client, "/v1/customers"),
            (segmenter_client, "/v1/orders/ord-c-1-1"),
            (messenger_client, "/v1/deliveries"),
        )
    )
    for value in HANAKO:
        assert value not in after and value not in listings, value
    assert "taro@example.jp" in listings and "c-2" in listings
    erasure_id = erased.json()["erasure_id"]
    statuses: list[Any] = [
        segmenter_client.get("/v1/customers/c-1/erasure", headers=shop.header(shop.admin)),
        messenger_client.get(
            f"/v1/messenger/erasures/{erasure_id}", headers=shop.header(shop.admin)
        ),
        feedback.get(f"/v1/feedback/erasures/{erasure_id}", headers=shop.header(shop.admin)),
    ]
    assert [(s.status_code, s.json()["status"]) for s in statuses] == [(200, "done")] * 3
    assert "hanako" not in json.dumps([s.json() for s in statuses])
    kenji = segmenter_client.get("/v1/customers/c-1", headers=other.header(other.reader))
    assert kenji.status_code == 200 and "kenji@beta.example" in kenji.text
