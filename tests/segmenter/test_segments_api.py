"""Segments for marketers and partner tools: define with a preview count, membership kept
current on every event and nightly, entry and exit published; recommendations; exports."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from segmenter.bootstrap import SegmenterContainer
from segmenter.domain.segments.rfm import RfmConfig
from segmenter.entrypoints import events as segmenter_events
from segmenter.services import segments
from shared.clock import FixedClock as Clock
from tests.conftest import Cloud, ShopKeys, make_shop, order_payload, segment_writer
from tests.segmenter.conftest import RecordingPublisher

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
    api: TestClient, shop: ShopKeys, clock: Clock, container: SegmenterContainer, cloud: Cloud
) -> None:
    # Given the template's rules on the bus, two F1 skincare buyers (one recent) and an F2
    cloud.route_rules_to_queues()
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
    writer = segment_writer(api, shop)
    created = api.post(
        "/v1/segments",
        json={
            "segment_id": "f1-skincare",
            "name": "F1 skincare",
            "rule": F1_SKINCARE_NOT_CONVERTED,
        },
        headers=writer,
    )
    # Then it answers at once, computing: no member counted in the API call
    assert created.status_code == 201, created.text
    assert (created.json()["status"], created.json()["member_count"]) == ("computing", None)
    reader = shop.header(shop.reader)
    assert api.get("/v1/segments/f1-skincare", headers=reader).json()["status"] == "computing"
    assert api.get("/v1/segments/f1-skincare/members", headers=reader).json()["customer_ids"] == []
    assert ("f1-skincare", "old") not in _published(container, "segment.entered")

    # When the bus brings the recompute request to the segmenter's event function
    (result,) = cloud.deliver("SegmenterEventsFunction")
    assert (result["segment_id"], result["profiles"]) == ("f1-skincare", 3)
    # Then the segment is ready, with its count and members, and the entry was published
    ready = api.get("/v1/segments/f1-skincare", headers=reader).json()
    assert (ready["status"], ready["member_count"]) == ("ready", 1)
    members = api.get("/v1/segments/f1-skincare/members", headers=reader).json()
    assert members["customer_ids"] == ["old"]
    entered = [
        (e["detail"]["detail"]["segment_id"], e["detail"]["detail"]["customer_id"])
        for e in cloud.take_events("MessengerEventsFunction")
        if e["detail-type"] == "segment.entered"
    ]
    assert ("f1-skincare", "old") in entered  # on the bus, for journeys

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


def test_invalid_rules_name_the_node(api: TestClient, shop: ShopKeys) -> None:
    writer = segment_writer(api, shop)
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
    summary = api.post("/v1/segments/recompute", headers=segment_writer(api, shop)).json()

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
    assert api.delete("/v1/segments/dormant", headers=segment_writer(api, shop)).status_code == 409


def test_nightly_schedule_recomputes_every_shop(
    cloud: Cloud, api: TestClient, shop: ShopKeys, container: SegmenterContainer
) -> None:
    _post_order(api, shop, 1, "sleeper", placed_at="2024-10-01T10:00:00+09:00")
    segmenter_events.container.use(container)
    try:
        result = segmenter_events.handler({"schedule": "nightly-recompute"}, None)
    finally:
        segmenter_events.reset()
    assert result["shops"]["acme"]["ranks"] == {"dormant": 1}


def test_a_shop_whose_recompute_fails_does_not_stall_the_others(
    cloud: Cloud,
    api: TestClient,
    shop: ShopKeys,
    container: SegmenterContainer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given two shops with a dormant customer each; the first ("aaa", listed first)
    # holds an RFM config the API would now refuse, written straight into the table
    broken = make_shop(cloud, "aaa")
    _post_order(api, broken, 1, "sleeper", placed_at="2024-10-01T10:00:00+09:00")
    _post_order(api, shop, 1, "sleeper", placed_at="2024-10-01T10:00:00+09:00")
    config = {**segments.rfm_config_to(RfmConfig()), "method": "fixed"}
    config["recency_days"] = [30, 90, 180, 1_000_000_000]
    container.profiles.put_setting("aaa", segments.RFM_SETTING, config)
    assert cloud.keys.list_shops()[0].shop_id == "aaa"

    # When the nightly schedule runs
    segmenter_events.container.use(container)
    try:
        result = segmenter_events.handler({"schedule": "nightly-recompute"}, None)
    finally:
        segmenter_events.reset()

    # Then the healthy shop is recomputed all the same
    assert result["shops"]["acme"]["ranks"] == {"dormant": 1}
    sleeper = api.get("/v1/customers/sleeper", headers=shop.header(shop.reader)).json()
    assert sleeper["rfm"]["rank"] == "dormant"
    # And the failing shop is counted and named in the result, after one retry
    assert (result["shops_done"], result["shops_failed"]) == (1, 1)
    assert result["failed"] == {"aaa": "InvalidInput"}
    assert result["retried"] == ["aaa"]
    # And its failure is logged with the shop id and the error type, nothing more
    failures = [
        r for r in caplog.records if r.name == "kizuna.scheduled" and r.levelname == "ERROR"
    ]
    assert {(getattr(r, "shop", None), getattr(r, "error", None)) for r in failures} >= {
        ("aaa", "InvalidInput")
    }
    assert all("1000000000" not in r.getMessage() for r in failures)


def test_rfm_config_out_of_bounds_is_a_422_naming_the_element(
    api: TestClient, shop: ShopKeys
) -> None:
    # Given a marketer's key
    writer = segment_writer(api, shop)

    # When a cut point far beyond any sane horizon, or a non-positive one, is sent
    cases = {
        "recency_days.3": {"recency_days": [30, 90, 180, 1_000_000_000]},
        "frequency.0": {"frequency": [0, 3, 5, 10]},
        "monetary.1": {"monetary": [100, -1, 5000, 9000]},
    }
    for field, body in cases.items():
        response = api.put("/v1/segments/rfm-config", json=body, headers=writer)

        # Then it is refused with a 422 naming the element, and nothing is stored
        assert response.status_code == 422, response.text
        assert [f["field"] for f in response.json()["error"]["fields"]] == [field]
    stored = api.get("/v1/segments/rfm-config", headers=shop.header(shop.reader)).json()
    assert stored["recency_days"] == [30, 90, 180, 365]


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
    from segmenter.services.ingest import record_preferences

    record_preferences(
        RecordPreferences("pref-1", "acme", "me", {"dislike": frozenset({"fragrance"})}),
        container.ingest,
    )
    api.post("/v1/segments/recompute", headers=segment_writer(api, shop))

    # When recommendations are asked for
    recs = api.get("/v1/customers/me/recommendations", headers=shop.header(shop.reader)).json()

    # Then the lotion comes first as co-purchased; never the serum, mist or cream
    skus = [r["sku"] for r in recs]
    assert skus[0] == "LOTION" and recs[0]["reason"] == "co_purchased"
    assert not {"SERUM", "MIST", "CREAM"} & set(skus)


def test_audience_export_csv_and_hashed(api: TestClient, shop: ShopKeys) -> None:
    _post_order(api, shop, 1, "sleeper", placed_at="2024-10-01T10:00:00+09:00")
    api.post("/v1/segments/recompute", headers=segment_writer(api, shop))

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
    writer = segment_writer(api, shop)
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
    writer = segment_writer(api, shop)
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


def test_birthdays_and_ages_follow_the_customers_own_calendar(
    api: TestClient, shop: ShopKeys, clock: Clock
) -> None:
    # Given the nightly job at 03:00 in Tokyo on 23 November (still the 22nd in UTC)
    clock.now = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
    # And customers whose birthday was yesterday, is in 7 days, who turn 30 today, and one
    # in Los Angeles, where it is still the 22nd: their birthday
    for customer_id, birthday, zone in (
        ("yesterday", "1990-11-22", None),
        ("in-a-week", "1990-11-30", None),
        ("thirty", "1996-11-23", None),
        ("los-angeles", "1990-11-22", "America/Los_Angeles"),
    ):
        event = {
            "type": "customer.upserted",
            "event_id": f"u-{customer_id}",
            "customer": {"customer_id": customer_id},
            "birthday": birthday,
            **({"timezone": zone} if zone else {}),
        }
        response = api.post("/v1/events", json=event, headers=shop.header(shop.events))
        assert response.status_code == 201, response.text

    # When the nightly recompute runs
    api.post("/v1/segments/recompute", headers=segment_writer(api, shop))

    # Then "birthday within 7 days" and ages are judged on each customer's date
    members = api.get("/v1/segments/birthday_soon/members", headers=shop.header(shop.reader))
    assert sorted(members.json()["customer_ids"]) == ["in-a-week", "los-angeles", "thirty"]
    thirty = api.post(
        "/v1/segments/preview",
        json={"rule": {"field": "age", "op": "eq", "value": 30}},
        headers=shop.header(shop.reader),
    )
    assert thirty.json() == {"count": 1, "sample_customer_ids": ["thirty"]}


def test_rules_beyond_what_the_engine_holds_are_refused_naming_the_node(
    api: TestClient, shop: ShopKeys
) -> None:
    cases = [
        ({"field": "revenue", "op": "gt", "value": 10**400}, "value", "too large"),
        ({"any": [{"field": "age", "op": "in", "value": [1, 10**400]}]}, "any[0].value[1]", ""),
        ({"activity": "viewed", "within_days": 401}, "within_days", "kept for 400 days"),
        (
            {"all": [{"activity": "bought", "category": "x", "within_days": 1096}]},
            "all[0].within_days",
            "kept for 1095 days",
        ),
    ]
    for rule, path, message in cases:
        # When a marketer previews a rule with a huge number or a window longer than the
        # history kept on profiles
        response = api.post(
            "/v1/segments/preview", json={"rule": rule}, headers=shop.header(shop.reader)
        )
        # Then it is a 422 naming the node, not a server error
        assert response.status_code == 422, response.text
        field = response.json()["error"]["fields"][0]
        assert field["field"] == path
        assert message in field["message"]
    # And the longest window the history holds is accepted
    longest = {"activity": "bought", "category": "x", "within_days": 1095}
    accepted = api.post(
        "/v1/segments/preview", json={"rule": longest}, headers=shop.header(shop.reader)
    )
    assert accepted.status_code == 200


def test_a_deleted_segment_is_dropped_without_an_exit_event(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer
) -> None:
    # Given a custom segment with one member
    writer = segment_writer(api, shop)
    rule = {"field": "order_count", "op": "gte", "value": 1}
    api.post(
        "/v1/segments", json={"segment_id": "buyers", "name": "B", "rule": rule}, headers=writer
    )
    _post_order(api, shop, 1, "c-1")
    assert ("buyers", "c-1") in _published(container, "segment.entered")

    # When the segment is deleted, and then the member orders again and the nightly runs
    assert api.delete("/v1/segments/buyers", headers=writer).status_code == 204
    _post_order(api, shop, 2, "c-1")
    api.post("/v1/segments/recompute", headers=writer)

    # Then no exit is published for it, and the profile no longer lists it
    assert ("buyers", "c-1") not in _published(container, "segment.exited")
    profile = api.get("/v1/customers/c-1", headers=shop.header(shop.reader)).json()
    assert "buyers" not in profile["segments"]


def test_a_nightly_run_cut_short_is_finished_by_the_next_run(
    api: TestClient,
    shop: ShopKeys,
    clock: Clock,
    container: SegmenterContainer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def run() -> None:
        container.segments.recompute("acme", clock())

    def lapsed() -> list[str]:
        return [
            e.id
            for e in _recorded(container).published
            if e.type == "segment.entered" and e.detail["segment_id"] == "lapsed_30"
        ]

    # Given a customer whose last order turns 30 days old overnight
    _post_order(api, shop, 1, "c-1", placed_at="2026-10-25T10:00:00+09:00")
    clock.now += timedelta(days=2)

    # When the nightly run stops while publishing, then again while writing members
    def timed_out(*args: object, **kwargs: object) -> None:
        raise TimeoutError("Lambda timed out")

    with monkeypatch.context() as patch:
        patch.setattr(container.publisher, "publish", timed_out)
        with pytest.raises(TimeoutError):
            run()
    with monkeypatch.context() as patch:
        patch.setattr(container.profiles, "set_memberships", timed_out)
        with pytest.raises(TimeoutError):
            run()
    # And the next run completes, and one more finds nothing left to do
    run()
    published = lapsed()
    run()

    # Then the entry was published under one id each time (consumers drop the repeats),
    # and the customer is a listed member whose profile says so
    assert published and len(set(published)) == 1
    assert lapsed() == published
    members = api.get("/v1/segments/lapsed_30/members", headers=shop.header(shop.reader))
    assert members.json()["customer_ids"] == ["c-1"]
    profile = api.get("/v1/customers/c-1", headers=shop.header(shop.reader)).json()
    assert "lapsed_30" in profile["segments"]


def test_category_best_sellers_count_only_the_last_90_days(api: TestClient, shop: ShopKeys) -> None:
    def items(sku: str, quantity: int) -> list[dict[str, Any]]:
        return [{"sku": sku, "quantity": quantity, "unit_price": "1000", "category": "skincare"}]

    # Given a cream that sold many 100 days ago, and a lotion that sold once last week
    _post_order(
        api,
        shop,
        1,
        "o1",
        placed_at="2026-08-15T10:00:00+09:00",
        items=items("OLD-CREAM", 9),
        total="9000",
    )
    _post_order(
        api,
        shop,
        1,
        "o2",
        placed_at="2026-11-15T10:00:00+09:00",
        items=items("NEW-LOTION", 1),
        total="1000",
    )
    # And our customer, a skincare buyer
    _post_order(
        api,
        shop,
        1,
        "me",
        placed_at="2026-11-16T10:00:00+09:00",
        items=items("SERUM", 1),
        total="1000",
    )

    # When the nightly model is built and recommendations are asked for
    api.post("/v1/segments/recompute", headers=segment_writer(api, shop))
    recs = api.get("/v1/customers/me/recommendations", headers=shop.header(shop.reader)).json()

    # Then the recent seller is the category best seller, and the old one is not offered
    assert [(r["sku"], r["reason"]) for r in recs] == [("NEW-LOTION", "category_best_seller")]


def test_hashed_export_holds_the_hash_of_the_e164_phone(api: TestClient, shop: ShopKeys) -> None:
    # Given a dormant customer known by email and a phone written the Japanese way
    body = order_payload(1, customer_id="sleeper", placed_at="2024-10-01T10:00:00+09:00")
    body["customer"]["phone"] = "090-1234-5678"
    assert api.post("/v1/orders", json=body, headers=shop.header(shop.events)).status_code == 201
    api.post("/v1/segments/recompute", headers=segment_writer(api, shop))

    # When the segment is exported for ad-platform matching
    hashed = api.get(
        "/v1/segments/dormant/export", params={"format": "hashed"}, headers=shop.header(shop.reader)
    )

    # Then the phone column is SHA-256 of the E.164 form, and no phone is in clear
    rows = list(csv.DictReader(io.StringIO(hashed.text)))
    assert [r["phone_sha256"] for r in rows] == [hashlib.sha256(b"+819012345678").hexdigest()]
    assert "9012345678" not in hashed.text


def test_segment_members_page_through_without_gaps_or_repeats(
    api: TestClient, shop: ShopKeys
) -> None:
    # Given seven full-price buyers
    buyers = [f"m{i}" for i in range(7)]
    for customer_id in buyers:
        _post_order(api, shop, 1, customer_id)

    # When a partner pages through the segment three at a time
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get(
            "/v1/segments/full_price_buyers/members",
            params=params,
            headers=shop.header(shop.reader),
        ).json()
        seen += page["customer_ids"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    # Then every member comes exactly once
    assert pages >= 3
    assert sorted(seen) == buyers and len(seen) == len(set(seen))


def _recorded(container: SegmenterContainer) -> RecordingPublisher:
    publisher = container.publisher
    assert isinstance(publisher, RecordingPublisher)
    return publisher


def test_a_segment_made_again_after_a_delete_computes_anew_and_a_redelivery_changes_nothing(
    api: TestClient, shop: ShopKeys, cloud: Cloud
) -> None:
    # Given a segment of buyers, counted (one member)
    cloud.route_rules_to_queues()
    writer, reader = segment_writer(api, shop), shop.header(shop.reader)
    _post_order(api, shop, 1, "c-1")
    rule = {"field": "order_count", "op": "gte", "value": 1}
    buyers = {"segment_id": "buyers", "name": "B", "rule": rule}
    assert api.post("/v1/segments", json=buyers, headers=writer).status_code == 201
    cloud.deliver("SegmenterEventsFunction")
    assert api.get("/v1/segments/buyers", headers=reader).json()["member_count"] == 1

    # When it is deleted and made again under the same id with another rule
    assert api.delete("/v1/segments/buyers", headers=writer).status_code == 204
    again = {**buyers, "rule": {"field": "order_count", "op": "gte", "value": 5}}
    assert api.post("/v1/segments", json=again, headers=writer).status_code == 201
    # Then the old count is not shown for it: it is computing
    listed = {s["segment_id"]: s for s in api.get("/v1/segments", headers=reader).json()}
    assert (listed["buyers"]["status"], listed["buyers"]["member_count"]) == ("computing", None)

    # When its recompute request arrives twice (EventBridge delivers at least once)
    (event,) = cloud.take_events("SegmenterEventsFunction")
    first, second = segmenter_events.handler(event, None), segmenter_events.handler(event, None)
    # Then it is ready with no member, and the second delivery changed nothing
    assert (first["entered"], first["exited"], second["entered"], second["exited"]) == (0, 1, 0, 0)
    ready = api.get("/v1/segments/buyers", headers=reader).json()
    assert (ready["status"], ready["member_count"]) == ("ready", 0)
    assert api.get("/v1/segments/buyers/members", headers=reader).json()["customer_ids"] == []
