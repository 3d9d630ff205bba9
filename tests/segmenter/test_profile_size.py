"""Profile items stay small: a heavy browser's history lives in its own items, so each
event rewrites a few small items, whatever the person did before.

Write units are counted from what the segmenter sends (DynamoDB's item-size rules: one
unit per started KB, doubled in a transaction), not timed."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ops.cost import COUNTS
from segmenter.bootstrap import SegmenterContainer
from segmenter.domain.commands import CustomerRef, RecordOrder, RecordView
from segmenter.domain.model import Contact, Order, OrderLine
from segmenter.domain.records import ChangeSet
from shared.clock import FixedClock as Clock
from tests.conftest import TODAY, Cloud, ShopKeys

HEAVY_VIEWS = 10_000
HEAVY_ORDERS = 500
SKUS = [f"SKU-{n:03d}" for n in range(40)]
BOUGHT_SKUS = SKUS[:4]
"""What the heavy customer buys, again and again. The profile keeps the all-time sets of
SKUs and categories bought (rules' "bought X ever"), so those sets, bounded by the
catalogue, are what still grows the profile item; not the number of orders or views."""


def _value_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB bills for one attribute value."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return math.ceil(len(inner.lstrip("-").replace(".", "").lstrip("0") or "0") / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(v) for k, v in inner.items())
    if kind == "SS":
        return sum(len(v.encode()) for v in inner)
    raise AssertionError(kind)


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


class WriteMeter:
    """Write units of every TransactWriteItems the client sends (puts: two per started
    KB of each item; deletes and condition checks: two each)."""

    def __init__(self) -> None:
        self.units = 0
        self.largest_item = 0

    def attach(self, client: Any) -> None:
        client.meta.events.register(
            "provide-client-params.dynamodb.TransactWriteItems", self._count
        )

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        for entry in params["TransactItems"]:
            self._entry(entry)

    def _entry(self, entry: dict[str, Any]) -> None:
        put = entry.get("Put")
        if put is None:
            self.units += 2
            return
        size = item_size(put["Item"])
        self.largest_item = max(self.largest_item, size)
        self.units += 2 * max(1, math.ceil(size / 1024))

    def take(self) -> int:
        units, self.units = self.units, 0
        return units


def _view(customer_id: str, n: int, at_offset: timedelta) -> RecordView:
    return RecordView(
        f"v-{customer_id}-{n}",
        "acme",
        CustomerRef(customer_id),
        SKUS[n % len(SKUS)],
        "skincare" if n % 2 else "makeup",
        TODAY - at_offset,
    )


def _order(customer_id: str, n: int, at_offset: timedelta) -> RecordOrder:
    sku = BOUGHT_SKUS[n % len(BOUGHT_SKUS)]
    order = Order(
        order_id=f"o-{customer_id}-{n}",
        customer_id=customer_id,
        placed_at=TODAY - at_offset,
        currency="JPY",
        total=Decimal(3980),
        lines=(OrderLine(sku, 1, Decimal(3980), "skincare"),),
    )
    return RecordOrder(
        f"o-{customer_id}-{n}", "acme", order, Contact(email=f"{customer_id}@example.jp"), ()
    )


VIEWS_PER_TRANSACTION = 30
"""Marker and view item per view, the profile once: under DynamoDB's 100 items."""


def _seed_views(container: SegmenterContainer, customer_id: str, first: int, count: int) -> None:
    """Views `first`..`count - 1` written as the view handler writes them (the profile folded in the
    domain, one marker and one activity item per event), oldest first, many events per
    transaction as the order importer does: the handler's path one by one would take
    minutes on moto. The last views go through the handler itself."""
    repo = container.profiles
    stored = repo.get_profile("acme", customer_id)
    assert stored is not None
    profile = stored
    for start in range(count - 1, first - 1, -VIEWS_PER_TRANSACTION):
        changes = []
        for n in range(start, max(start - VIEWS_PER_TRANSACTION, first - 1), -1):
            view = _view(customer_id, n, timedelta(minutes=n * 57 + 60))
            before, profile = profile, profile.with_view(view.sku, view.category, view.at)
            added = profile.new_activities(before)
            changes.append(
                ChangeSet(
                    "acme",
                    view.event_id,
                    "product.viewed",
                    view.sku,
                    activities=[(customer_id, a) for a in added],
                )
            )
        changes[-1].profiles = [(profile, stored.version)]
        repo.commit_many(changes)
        stored = repo.get_profile("acme", customer_id)
        assert stored is not None
        profile = replace(profile, version=stored.version)


def _api_view(customer_id: str, n: int) -> dict[str, Any]:
    return {
        "type": "product.viewed",
        "event_id": f"api-v-{customer_id}-{n}",
        "customer": {"customer_id": customer_id},
        "sku": "SKU-001",
        "category": "skincare",
        "viewed_at": (TODAY - timedelta(minutes=n)).isoformat(),
    }


def _api_order(customer_id: str, n: int) -> dict[str, Any]:
    return {
        "type": "order.placed",
        "event_id": f"api-o-{customer_id}-{n}",
        "order_id": f"api-o-{customer_id}-{n}",
        "placed_at": (TODAY - timedelta(minutes=n)).isoformat(),
        "currency": "JPY",
        "total": "3980",
        "items": [{"sku": "SKU-000", "quantity": 1, "unit_price": "3980", "category": "skincare"}],
        "customer": {"customer_id": customer_id, "email": f"{customer_id}@example.jp"},
    }


@pytest.mark.timeout(1200)  # 10,500 events on moto: minutes on a loaded machine
def test_a_heavy_browser_costs_each_event_what_a_light_customer_costs(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer, cloud: Cloud, clock: Clock
) -> None:
    """Given a segment on views, a light customer (one view, one order) and a heavy one
    (10,000 views of 40 products over 400 days and 500 orders of four products over
    three years)
    When each gets one more view and one more order over the API
    Then every event is accepted, each costs the heavy customer no more write units than
    the light one, no item written is over a few KB, and the heavy customer is in the
    views segment both by the event path and by the nightly recompute."""
    writer = api.post(
        "/v1/admin/keys",
        json={"name": "m", "scopes": ["segments:write", "segments:read"]},
        headers=shop.header(shop.admin),
    ).json()["token"]
    rule = {"activity": "viewed", "sku": ["SKU-001"], "within_days": 30, "count_gte": 3}
    created = api.post(
        "/v1/segments",
        json={"segment_id": "serum-browsers", "name": "Browsers", "rule": rule},
        headers={"Authorization": f"Bearer {writer}"},
    )
    assert created.status_code == 201, created.text
    ingest = container.ingest
    ingest.handle(_view("light", 0, timedelta(days=2)))
    ingest.handle(_order("light", 0, timedelta(days=20)))
    for n in range(HEAVY_ORDERS):
        ingest.handle(_order("heavy", n, timedelta(days=2 + n * 2)))
    _seed_views(container, "heavy", 100, HEAVY_VIEWS)
    for n in range(99, -1, -1):
        ingest.handle(_view("heavy", n, timedelta(minutes=n * 57 + 60)))

    meter = WriteMeter()
    meter.attach(container.profiles._client)  # type: ignore[attr-defined]
    units: dict[str, Counter[str]] = {"light": Counter(), "heavy": Counter()}
    for customer_id in ("light", "heavy"):
        for n, body in enumerate((_api_view, _api_order)):
            event = body(customer_id, n)
            response = api.post("/v1/events", json=event, headers=shop.header(shop.events))
            assert response.status_code == 201, response.text
            units[customer_id][event["type"]] += meter.take()

    assert units["heavy"] == units["light"], units
    # the event marker, the profile, the view's own item and what the event published
    # (kept apart from the marker, where an erasure finds it), each under 1 KB, transactional
    assert units["heavy"]["product.viewed"] == 8, units
    # and an order's is what `kizuna cost` prices every storefront event at
    assert units["heavy"]["order.placed"] == COUNTS["ingest_write_units"].value == 10, units
    assert meter.largest_item < 3 * 1024, meter.largest_item
    profile_item = cloud.dynamodb.get_item(
        TableName=cloud.settings.segmenter_table,
        Key={"pk": {"S": "SHOP#acme#CUST#heavy"}, "sk": {"S": "PROFILE"}},
    )["Item"]
    assert item_size(profile_item) < 3 * 1024
    customer = api.get("/v1/customers/heavy", headers=shop.header(shop.reader)).json()
    assert customer["order_count"] == HEAVY_ORDERS + 1
    assert "serum-browsers" in customer["segments"]

    clock.advance(days=1)
    recomputed = api.post(
        "/v1/segments/recompute", headers={"Authorization": f"Bearer {writer}"}
    ).json()
    assert recomputed["profiles"] == 2
    members = api.get(
        "/v1/segments/serum-browsers/members", headers=shop.header(shop.reader)
    ).json()
    assert "heavy" in str(members) and "light" not in str(members)
