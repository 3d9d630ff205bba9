"""The console's fixtures: a small shop with two years of orders, scored and analysed,
served with every function of the template behind one base URL (the local stack's
dispatcher) by uvicorn on 127.0.0.1, on in-process moto."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ops.local.router import Dispatcher, build_routes
from ops.local.template import functions
from segmenter.entrypoints import analytics as analytics_handler
from shared import clock as shared_clock
from shared.auth.service import authenticate_token, create_key
from tests.browser import CHROMIUM, chromium, served
from tests.conftest import (
    TODAY,
    Cloud,
    ShopKeys,
    fake_aws_credentials,
    make_shop,
    open_cloud,
    template,
)

FIRST_DAY = date(2024, 11, 1)
LAST_DAY = date(2026, 11, 20)


@dataclass(frozen=True)
class Shops:
    acme: ShopKeys
    other: ShopKeys
    acme_marketer: str
    """segments:read + segments:write + messages:read: what a marketer signs in with."""


def demo_orders(customers: int = 90, seed: int = 14, prefix: str = "c") -> list[dict[str, Any]]:
    """Orders of a small D2C shop: each customer's first order on a day of the last two
    years, then 0-5 repeat orders at their own interval (a fixed seed: the same every run)."""
    rng = random.Random(seed)
    span = (LAST_DAY - FIRST_DAY).days
    events: list[dict[str, Any]] = []
    for n in range(customers):
        day = FIRST_DAY + timedelta(days=rng.randrange(span))
        interval = rng.choice((20, 35, 60, 120))
        for k in range(rng.choice((0, 0, 1, 1, 2, 3, 5)) + 1):
            if day > LAST_DAY:
                break
            total = rng.choice((2980, 3980, 5480, 8800))
            events.append(
                {
                    "type": "order.placed",
                    "event_id": f"evt-{prefix}-{n}-{k}",
                    "order_id": f"{prefix}-o-{n}-{k}",
                    "placed_at": f"{day.isoformat()}T10:00:00+09:00",
                    "currency": "JPY",
                    "total": str(total),
                    "sales_channel": "web" if n % 3 else "instagram",
                    "items": [
                        {
                            "sku": "SERUM-30",
                            "category": "skincare",
                            "quantity": 1,
                            "unit_price": str(total),
                            "unit_cost": str(total // 3),
                        }
                    ],
                    "customer": {
                        "customer_id": f"{prefix}-{n:03d}",
                        "email": f"{prefix}{n}@example.jp",
                        "last_name": "山田" if n % 2 else "佐藤",
                        "first_name": f"花子{n}",
                        "consents": [{"channel": "email", "granted": True, "source": "checkout"}],
                    },
                }
            )
            day += timedelta(days=interval + rng.randrange(10))
    return events


def load_orders(client: TestClient, shop: ShopKeys, orders: list[dict[str, Any]]) -> None:
    """Orders in through the API, then the nightly recompute (RFM scores)."""
    for start in range(0, len(orders), 500):
        r = client.post(
            "/v1/events/batch",
            json={"events": orders[start : start + 500]},
            headers=shop.header(shop.events),
        )
        assert r.status_code == 200, r.text
    r = client.post("/v1/segments/recompute", headers=shop.header(shop.admin))
    assert r.status_code == 200, r.text


def analyse(cloud: Cloud, client: TestClient, shop: ShopKeys) -> None:
    """The analytics pass, as the refresh request's event reaches the analytics function."""
    r = client.post("/v1/analytics/refresh", headers=shop.header(shop.admin))
    assert r.status_code == 202, r.text
    for event in cloud.take_events("AnalyticsFunction"):
        if event["detail-type"] == "analytics.refresh_requested":
            analytics_handler.handler(event, None)


def load_shops(cloud: Cloud, client: TestClient) -> Shops:
    """acme (90 customers) and other (12), loaded and analysed. The bus rules are routed
    only after the orders are in: moto matching every order event against every rule
    would take minutes, and no test here reads those events."""
    acme = make_shop(cloud, "acme")
    other = make_shop(cloud, "other")
    load_orders(client, acme, demo_orders())
    load_orders(client, other, demo_orders(customers=12, seed=99, prefix="z"))
    cloud.route_rules_to_queues()
    analyse(cloud, client, acme)
    analyse(cloud, client, other)
    admin = authenticate_token(cloud.keys, acme.admin)
    marketer = create_key(
        cloud.keys, admin, "marketer", ["segments:read", "segments:write", "messages:read"]
    )
    return Shops(acme, other, marketer.token)


@pytest.fixture
def shops(cloud: Cloud, segmenter_client: TestClient) -> Shops:
    return load_shops(cloud, segmenter_client)


@contextmanager
def serve() -> Iterator[str]:
    """Every function's app behind the template's routes (as `kizuna local up` serves them),
    by uvicorn in a thread on a free port of 127.0.0.1."""
    dispatcher = Dispatcher(build_routes(functions(template())))
    with served(dispatcher) as url:
        yield url


@pytest.fixture
def base_url(cloud: Cloud) -> Iterator[str]:
    with serve() as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per module (each test opens its own context). Not one per
    session: Playwright's sync API keeps an event loop running in this thread while the
    browser lives, and a later module's Mangum handler needs the thread's loop free."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    with chromium() as launched:
        yield launched


@dataclass(frozen=True)
class Stack:
    """One loaded and analysed shop pair behind one base URL, shared by a module's tests
    (loading and analysing takes seconds; the pages only read it, or add their own rows)."""

    cloud: Cloud
    shops: Shops
    base_url: str
    segmenter: TestClient
    messenger: TestClient


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    from messenger.entrypoints.api import app as messenger_app
    from segmenter.entrypoints.api import app as segmenter_app

    with pytest.MonkeyPatch.context() as mp:
        fake_aws_credentials(mp)
        shared_clock.use(shared_clock.FixedClock(TODAY))
        with open_cloud(mp) as cloud:
            segmenter = TestClient(segmenter_app)
            shops = load_shops(cloud, segmenter)
            with serve() as url:
                yield Stack(cloud, shops, url, segmenter, TestClient(messenger_app))
        shared_clock.reset()
