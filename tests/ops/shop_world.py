"""A realistic shop, loaded the way a storefront and a marketer would (HTTP to every
service, the template's rules to the event handlers), so that every table of every
service holds its items: what `kizuna shop export` must carry whole."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from feedback.entrypoints import events as feedback_events
from messenger.entrypoints import events as messenger_events
from segmenter.entrypoints import events as segmenter_events
from shared.auth.service import authenticate_token, create_key
from shared.clock import FixedClock
from tests.conftest import Cloud, ShopKeys, make_shop, order_payload
from tests.feedback.conftest import SURVEY, answers

HANDLERS = (
    ("SegmenterEventsFunction", segmenter_events.handler),
    ("MessengerEventsFunction", messenger_events.handler),
    ("FeedbackEventsFunction", feedback_events.handler),
)


def clients() -> dict[str, TestClient]:
    """The three services' APIs, built on the current moto (containers reset)."""
    from feedback.entrypoints.api import app as feedback_app
    from messenger.entrypoints.api import app as messenger_app
    from segmenter.entrypoints.api import app as segmenter_app

    apps = {"segmenter": segmenter_app, "messenger": messenger_app, "feedback": feedback_app}
    for app in apps.values():
        app.state.container = None
    return {name: TestClient(app) for name, app in apps.items()}


def deliver(cloud: Cloud) -> int:
    """Hand what the bus routed to the messenger and feedback handlers until nothing is
    left (a handler may publish more); how many events were handed."""
    handed = 0
    while True:
        batch = 0
        for function, handler in HANDLERS:
            for event in cloud.take_events(function):
                handler(event, None)
                batch += 1
        if not batch:
            return handed
        handed += batch


def _ok(response: Any, *codes: int) -> dict[str, Any]:
    assert response.status_code in (codes or (200, 201, 202)), response.text
    body = response.json()
    return body if isinstance(body, dict) else {"items": body}


def load_shop(cloud: Cloud, shop_id: str, clock: FixedClock, people: int = 4) -> ShopKeys:
    """Given `shop_id` with `people` customers: orders (one shipped, one cancelled), a
    profile with a birthday, a LINE friend and an SMS number, views and a cart, a custom
    segment and the built-in journeys on (so enrolments and deliveries), a campaign sent
    to the segment, ad spend, a survey answered, a restock sign-up and the SKU's release
    (sold out, then back: c-1 is told)."""
    shop = make_shop(cloud, shop_id)
    admin = shop.header(shop.admin)
    principal = authenticate_token(cloud.keys, shop.admin)
    storefront = shop.header(
        create_key(cloud.keys, principal, "storefront", ["events:write", "feedback:write"]).token
    )
    api = clients()
    segmenter, messenger, feedback = api["segmenter"], api["messenger"], api["feedback"]
    for name in ("back-in-stock", "birthday", "replenishment"):
        _ok(messenger.post(f"/v1/journeys/builtins/{name}/enable", headers=admin))
    message = {
        "message_id": "autumn",
        "name": "Autumn sale",
        "email": {
            "subject": "{{ customer.last_name }}様、秋のセール",
            "html": '<p>{{ customer.last_name }}様</p><a href="https://shop.example/sale">見る</a>',
            "text": "https://shop.example/sale",
        },
    }
    _ok(messenger.post("/v1/messages", json=message, headers=admin), 201)
    journey = {
        "journey_id": "thanks",
        "name": "Thank you",
        "trigger": {"event": "order.placed"},
        "start": "wait",
        "steps": {
            "wait": {"type": "wait", "days": 3, "next": "mail"},
            "mail": {"type": "send", "message_id": "autumn"},
        },
    }
    _ok(messenger.post("/v1/journeys", json=journey, headers=admin), 201)

    for i in range(1, people + 1):
        customer_id = f"c-{i}"
        for n in range(1, (2 if i == 1 else 1) + 1):
            body = order_payload(n, customer_id=customer_id, email=f"{customer_id}@{shop_id}.jp")
            body["placed_at"] = (clock.now - timedelta(days=40 - 10 * n + i)).isoformat()
            if i == 2:
                body["customer"]["phone"] = "+819012345678"
                body["customer"]["consents"].append(
                    {"channel": "sms", "granted": True, "source": "sms_form"}
                )
            _ok(segmenter.post("/v1/orders", json=body, headers=storefront), 201)
    events: list[dict[str, Any]] = [
        {
            "type": "customer.upserted",
            "event_id": "cu-c-1",
            "customer": {
                "customer_id": "c-1",
                "email": f"c-1@{shop_id}.jp",
                "line_user_id": "U" + hashlib.sha256(shop_id.encode()).hexdigest()[:32],
                "consents": [{"channel": "line", "granted": True, "source": "line_friend"}],
            },
            "birthday": "1990-11-24",
            "prefecture": "東京都",
        },
        {
            "type": "order.shipped",
            "event_id": "ship-ord-c-1-1",
            "order_id": "ord-c-1-1",
            "at": (clock.now - timedelta(days=20)).isoformat(),
        },
        {
            "type": "order.cancelled",
            "event_id": "cancel-ord-c-3-1",
            "order_id": "ord-c-3-1",
            "at": clock.now.isoformat(),
        },
        {
            "type": "product.viewed",
            "event_id": "view-c-2",
            "customer": {"customer_id": "c-2"},
            "sku": "LOTION-150",
            "category": "skincare",
            "viewed_at": (clock.now - timedelta(hours=3)).isoformat(),
        },
        {
            "type": "cart.updated",
            "event_id": "cart-c-2",
            "customer": {"customer_id": "c-2"},
            "cart_id": "cart-c-2",
            "updated_at": (clock.now - timedelta(hours=3)).isoformat(),
            "items": [{"sku": "LOTION-150", "quantity": 1, "unit_price": "2480"}],
        },
    ]
    _ok(segmenter.post("/v1/events/batch", json={"events": events}, headers=storefront))
    rule = {"field": "order_count", "op": "gte", "value": 1}
    segment = {"segment_id": "buyers", "name": "Buyers", "rule": rule}
    _ok(segmenter.post("/v1/segments", json=segment, headers=admin))
    spend = {"entries": [{"channel": "web", "month": "2026-10", "amount": "125000.5"}]}
    _ok(segmenter.put("/v1/analytics/ad-spend", json=spend, headers=admin))
    deliver(cloud)
    deliver(cloud)

    campaign = {
        "campaign_id": "autumn-sale",
        "name": "Autumn sale",
        "segment_id": "buyers",
        "variants": [{"name": "A", "message_id": "autumn"}],
        "wave_interval_minutes": 0,
    }
    _ok(messenger.post("/v1/campaigns", json=campaign, headers=admin), 201)
    messenger_events.journey_dispatcher()
    deliver(cloud)

    _ok(feedback.post("/v1/surveys", json=SURVEY, headers=admin), 201)
    for customer_id in ("c-1", "c-2"):
        answer = {"response_id": f"r-{customer_id}", "customer_id": customer_id}
        _ok(
            feedback.post(
                "/v1/surveys/why-bought/responses",
                json={**answer, "answers": answers()},
                headers=storefront,
            ),
            201,
        )
    signup = {"sku": "SERUM-30", "channel": "email", "customer_id": "c-1"}
    _ok(feedback.post("/v1/restock/signups", json=signup, headers=storefront), 201)
    stock = [
        {"type": "inventory.changed", "event_id": f"inv-{n}", "sku": "SERUM-30", "quantity": q}
        for n, q in enumerate((0, 5))
    ]
    for event in stock:  # sold out, then back: a restock release tells c-1
        _ok(segmenter.post("/v1/events", json=event, headers=storefront), 201)
        deliver(cloud)
    clock.advance(days=4)
    messenger_events.journey_dispatcher()
    deliver(cloud)
    return shop
