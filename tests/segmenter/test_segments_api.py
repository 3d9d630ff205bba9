"""Segments for marketers and partner tools: define with a preview count, membership kept
current on every event and nightly, entry and exit published; recommendations; exports."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from segmenter.bootstrap import SegmenterContainer
from segmenter.entrypoints import events as segmenter_events
from tests.conftest import Cloud, ShopKeys, make_shop, order_payload
from tests.segmenter.conftest import Clock, RecordingPublisher

F1_SKINCARE_NOT_CONVERTED = {
    "all": [
        {"field": "order_count", "op": "eq", "value": 1},
        {"activity": "bought", "category": "skincare", "within_days": 365},
        {"field": "last_order_at", "op": "older_than_days", "value": 30},
    ]
}


def _post_order(api: TestClient, shop: ShopKeys, n: int, customer_id: str, **kw: Any) -> None:
    body = order_payload(n, customer_id=customer_id, email=f"{customer_id}@example.jp", **kw)
    response = api.post("/v1/orders", json=body, headers=shop.header(shop.events))
    assert response.status_code == 201, response.text


def _published(container: SegmenterContainer, kind: str) -> list[tuple[str, str]]:
    publisher = container.publisher
    assert isinstance(publisher, RecordingPublisher)
    return [
        (e.detail["segment_id"], e.detail["customer_id"])
        for e in publisher.published
        if e.type == kind
    ]


def test_preview_create_and_members(
    api: TestClient, shop: ShopKeys, clock: Clock, container: SegmenterContainer
) -> None:
    # Given two F1 skincare buyers (one recent) and an F2 customer
    _post_order(api, shop, 1, "old", placed_at="2026-09-01T10:00:00+09:00")
    _post_order(api, shop, 1, "recent", placed_at="2026-11-20T10:00:00+09:00")
    _post_order(api, shop, 1, "loyal", placed_at="2026-08-01T10:00:00+09:00")
    _post_order(api, shop, 2, "loyal", placed_at="2026-09-01T10:00:00+09:00")

    # When the marketer previews "F1 skincare, 30+ days, no second order"
    preview = api.post(
        "/v1/segments/preview",
        json={"rule": F1_SKINCARE_NOT_CONVERTED},
        headers=shop.header(shop.reader),
    )
    # Then the count is shown before saving
    assert preview.json() == {"count": 1, "sample_customer_ids": ["old"]}

    # When it is saved
    writer = _writer(api, shop)
    created = api.post(
        "/v1/segments",
        json={
            "segment_id": "f1-skincare",
            "name": "F1 skincare",
            "rule": F1_SKINCARE_NOT_CONVERTED,
        },
        headers=writer,
    )
    assert created.status_code == 201, created.text
    assert created.json()["member_count"] == 1
    members = api.get("/v1/segments/f1-skincare/members", headers=shop.header(shop.reader)).json()
    assert members["customer_ids"] == ["old"]
    assert ("f1-skincare", "old") in _published(container, "segment.entered")

    # When "old" orders again, they leave the segment at once (incremental), with an event
    _post_order(api, shop, 2, "old", placed_at="2026-11-22T10:00:00+09:00")
    members = api.get("/v1/segments/f1-skincare/members", headers=shop.header(shop.reader)).json()
    assert members["customer_ids"] == []
    assert ("f1-skincare", "old") in _published(container, "segment.exited")

    # When 30 days pass, the nightly recompute moves "recent" in
    clock.now += timedelta(days=31)
    api.post("/v1/segments/recompute", headers=writer)
    members = api.get("/v1/segments/f1-skincare/members", headers=shop.header(shop.reader)).json()
    assert members["customer_ids"] == ["recent"]


def _writer(api: TestClient, shop: ShopKeys) -> dict[str, str]:
    key = api.post(
        "/v1/admin/keys",
        json={"name": "marketer", "scopes": ["segments:write", "segments:read"]},
        headers=shop.header(shop.admin),
    ).json()["token"]
    return shop.header(key)


def test_invalid_rules_name_the_node(api: TestClient, shop: ShopKeys) -> None:
    writer = _writer(api, shop)
    cases = [
        (
            {
                "all": [
                    {"field": "order_count", "op": "eq", "value": 1},
                    {"field": "shoe_size", "op": "eq", "value": 1},
                ]
            },
            "all[1]",
        ),
        ({"field": "order_count", "op": "eq", "value": "many"}, "value"),
        ({"all": [{"activity": "teleported", "within_days": 3}]}, "all[0].activity"),
    ]
    for rule, path in cases:
        response = api.post(
            "/v1/segments", json={"segment_id": "bad", "name": "x", "rule": rule}, headers=writer
        )
        assert response.status_code == 422, response.text
        assert path in response.json()["error"]["fields"][0]["field"], response.json()
    assert api.get("/v1/segments/bad", headers=writer).status_code == 404
    # and a reader may preview but not create
    denied = api.post(
        "/v1/segments",
        json={"segment_id": "x", "name": "x", "rule": F1_SKINCARE_NOT_CONVERTED},
        headers=shop.header(shop.reader),
    )
    assert denied.status_code == 403


def test_builtin_segments_and_rfm_ranks(api: TestClient, shop: ShopKeys, clock: Clock) -> None:
    # Given a customer who last ordered two years ago and a frequent recent buyer
    _post_order(api, shop, 1, "sleeper", placed_at="2024-10-01T10:00:00+09:00")
    for n in range(1, 6):
        _post_order(
            api,
            shop,
            n,
            "fan",
            placed_at=f"2026-11-{n + 10:02d}T10:00:00+09:00",
            total="30000",
            items=[{"sku": "SET", "quantity": 1, "unit_price": "30000"}],
        )

    # When the nightly job runs (as the schedule fires it)
    summary = api.post("/v1/segments/recompute", headers=_writer(api, shop)).json()

    # Then ranks are set and built-in segments are materialised
    assert summary["ranks"]["dormant"] == 1
    sleeper = api.get("/v1/customers/sleeper", headers=shop.header(shop.reader)).json()
    fan = api.get("/v1/customers/fan", headers=shop.header(shop.reader)).json()
    assert sleeper["rfm"]["rank"] == "dormant"
    assert fan["rfm"]["rank"] in ("loyal", "semi_loyal")
    assert "dormant" in sleeper["segments"]
    listed = {
        s["segment_id"]: s for s in api.get("/v1/segments", headers=shop.header(shop.reader)).json()
    }
    assert listed["dormant"]["builtin"] is True and listed["dormant"]["member_count"] == 1
    assert api.delete("/v1/segments/dormant", headers=_writer(api, shop)).status_code == 409


def test_nightly_schedule_recomputes_every_shop(
    cloud: Cloud, api: TestClient, shop: ShopKeys, container: SegmenterContainer
) -> None:
    _post_order(api, shop, 1, "sleeper", placed_at="2024-10-01T10:00:00+09:00")
    segmenter_events._container = container
    try:
        result = segmenter_events.handler({"schedule": "nightly-recompute"}, None)
    finally:
        segmenter_events.reset()
    assert result["shops"]["acme"]["ranks"] == {"dormant": 1}


def test_recommendations_skip_bought_out_of_stock_and_disliked(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer
) -> None:
    def items(*skus: str) -> list[dict[str, Any]]:
        return [
            {"sku": s, "quantity": 1, "unit_price": "1000", "category": "skincare"} for s in skus
        ]

    # Given buyers who bought the serum together with lotion, cream and mist
    for i, basket in enumerate(
        [("SERUM", "LOTION"), ("SERUM", "LOTION", "CREAM"), ("SERUM", "MIST"), ("CREAM",)]
    ):
        _post_order(api, shop, 1, f"b{i}", items=items(*basket), total=str(1000 * len(basket)))
    # And the mist is out of stock, the cream has a fragrance tag
    api.post(
        "/v1/events",
        json={"type": "inventory.changed", "event_id": "i1", "sku": "MIST", "quantity": 0},
        headers=shop.header(shop.events),
    )
    api.post(
        "/v1/events",
        json={
            "type": "inventory.changed",
            "event_id": "i2",
            "sku": "CREAM",
            "quantity": 5,
            "tags": ["fragrance"],
        },
        headers=shop.header(shop.events),
    )
    # And our customer bought the serum and said they dislike fragrance
    _post_order(api, shop, 1, "me", items=items("SERUM"))
    from segmenter.domain.commands import RecordPreferences
    from segmenter.services import record_preferences

    record_preferences(
        RecordPreferences("pref-1", "acme", "me", {"dislike": frozenset({"fragrance"})}),
        container.ingest,
    )
    api.post("/v1/segments/recompute", headers=_writer(api, shop))

    # When recommendations are asked for
    recs = api.get("/v1/customers/me/recommendations", headers=shop.header(shop.reader)).json()

    # Then the lotion comes first as co-purchased; never the serum, mist or cream
    skus = [r["sku"] for r in recs]
    assert skus[0] == "LOTION" and recs[0]["reason"] == "co_purchased"
    assert not {"SERUM", "MIST", "CREAM"} & set(skus)


def test_audience_export_csv_and_hashed(api: TestClient, shop: ShopKeys) -> None:
    _post_order(api, shop, 1, "sleeper", placed_at="2024-10-01T10:00:00+09:00")
    api.post("/v1/segments/recompute", headers=_writer(api, shop))

    plain = api.get("/v1/segments/dormant/export", headers=shop.header(shop.reader))
    hashed = api.get(
        "/v1/segments/dormant/export", params={"format": "hashed"}, headers=shop.header(shop.reader)
    )

    rows = list(csv.DictReader(io.StringIO(plain.text)))
    assert plain.headers["content-type"].startswith("text/csv")
    assert [(r["customer_id"], r["email"], r["rfm_rank"]) for r in rows] == [
        ("sleeper", "sleeper@example.jp", "dormant")
    ]
    hashed_rows = list(csv.DictReader(io.StringIO(hashed.text)))
    assert hashed_rows == [
        {"email_sha256": hashlib.sha256(b"sleeper@example.jp").hexdigest(), "phone_sha256": ""}
    ]
    assert "sleeper@example.jp" not in hashed.text


def test_other_shops_see_no_segments_or_members(
    api: TestClient, shop: ShopKeys, cloud: Cloud
) -> None:
    _post_order(api, shop, 1, "sleeper", placed_at="2024-10-01T10:00:00+09:00")
    writer = _writer(api, shop)
    api.post(
        "/v1/segments",
        json={
            "segment_id": "mine",
            "name": "Mine",
            "rule": {"field": "order_count", "op": "gte", "value": 1},
        },
        headers=writer,
    )
    other = make_shop(cloud, "other")

    assert api.get("/v1/segments/mine", headers=other.header(other.reader)).status_code == 404
    assert (
        api.get("/v1/segments/dormant/members", headers=other.header(other.reader)).json()[
            "customer_ids"
        ]
        == []
    )
    assert (
        api.get(
            "/v1/customers/sleeper/recommendations", headers=other.header(other.reader)
        ).status_code
        == 404
    )
    export = api.get("/v1/segments/dormant/export", headers=other.header(other.reader))
    assert "sleeper" not in export.text


def test_fixed_rfm_thresholds_set_by_the_shop(api: TestClient, shop: ShopKeys) -> None:
    # Given a customer with 2 orders worth ¥8,000 in the last month
    for n in (1, 2):
        _post_order(
            api, shop, n, "c", placed_at=f"2026-11-{n + 10:02d}T10:00:00+09:00", total="4000"
        )
    writer = _writer(api, shop)
    # When the shop fixes its own thresholds (2 orders already count as F5, ¥5,000 as M5)
    config = {
        "method": "fixed",
        "recency_days": [30, 60, 90, 365],
        "frequency": [1, 2, 3, 4],
        "monetary": [1000, 2000, 3000, 5000],
        "loyal": {"r": 4, "f": 3, "m": 4},
    }
    saved = api.put("/v1/segments/rfm-config", json=config, headers=writer)
    assert saved.status_code == 200, saved.text
    api.post("/v1/segments/recompute", headers=writer)
    # Then the customer is scored by them
    profile = api.get("/v1/customers/c", headers=shop.header(shop.reader)).json()
    assert profile["rfm"] == {"r": 5, "f": 3, "m": 5, "rank": "loyal"}
    # And bad thresholds are refused naming the field
    bad = api.put(
        "/v1/segments/rfm-config", json={**config, "frequency": [3, 2, 1, 0]}, headers=writer
    )
    assert bad.status_code == 422


def test_customers_are_listed_page_by_page(api: TestClient, shop: ShopKeys) -> None:
    for i in range(5):
        _post_order(api, shop, 1, f"p{i}")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/customers", params=params, headers=shop.header(shop.reader)).json()
        seen += [c["customer_id"] for c in page["customers"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"p{i}" for i in range(5)]
