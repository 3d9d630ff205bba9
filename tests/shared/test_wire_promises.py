"""Every promise true on the wire: bad input is a 4xx naming the field with nothing
stored, an unexpected failure is the documented JSON error with a request id, and each
service describes itself (OpenAPI) at a documented path, locally as on AWS."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ops.local.router import Dispatcher, build_routes
from ops.local.template import functions, load_template
from shared.auth.service import authenticate_token, create_key
from tests.conftest import TEMPLATE, Cloud, ShopKeys, order_payload

OUT_OF_RANGE = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z"]


def _fields(response: Any) -> list[str]:
    return [f["field"] for f in response.json()["error"].get("fields", [])]


def _key(cloud: Cloud, shop: ShopKeys, *scopes: str) -> dict[str, str]:
    admin = authenticate_token(cloud.keys, shop.admin)
    return shop.header(create_key(cloud.keys, admin, "wire", list(scopes)).token)


@pytest.mark.parametrize("placed_at", OUT_OF_RANGE)
def test_an_order_placed_outside_the_window_is_a_422_and_nothing_is_stored(
    segmenter_client: TestClient, shop: ShopKeys, placed_at: str
) -> None:
    # When an order is placed in year 1 or 9999
    r = segmenter_client.post(
        "/v1/orders", json=order_payload(placed_at=placed_at), headers=shop.header(shop.events)
    )
    # Then it is a 422 naming placed_at, and there is no order
    assert r.status_code == 422, r.text
    assert _fields(r) == ["placed_at"]
    got = segmenter_client.get("/v1/orders/ord-c-1-1", headers=shop.header(shop.reader))
    assert got.status_code == 404


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "order.shipped", "order_id": "o-1", "at": "1900-01-01T00:00:00Z"}, "at"),
        (
            {
                "type": "cart.updated",
                "customer": {"customer_id": "c-1"},
                "cart_id": "k-1",
                "items": [],
                "updated_at": "2100-01-01T00:00:00Z",
            },
            "updated_at",
        ),
    ],
)
def test_every_event_timestamp_is_bounded(
    segmenter_client: TestClient, shop: ShopKeys, event: dict[str, Any], field: str
) -> None:
    r = segmenter_client.post(
        "/v1/events", json={"event_id": "e-1", **event}, headers=shop.header(shop.events)
    )
    assert r.status_code == 422, r.text
    assert _fields(r) == [f"{event['type']}.{field}"]


def test_a_batch_with_one_bad_event_stores_none_of_them(
    segmenter_client: TestClient, shop: ShopKeys
) -> None:
    # Given a batch whose second event was placed in year 1
    good = {"type": "order.placed", **order_payload(1)}
    bad = {"type": "order.placed", **order_payload(2, placed_at="0001-01-01T00:00:00Z")}
    # When it is posted
    r = segmenter_client.post(
        "/v1/events/batch", json={"events": [good, bad]}, headers=shop.header(shop.events)
    )
    # Then the whole batch is a 422 naming the event and field, and the first is not stored
    assert r.status_code == 422, r.text
    assert _fields(r) == ["events.1.order.placed.placed_at"]
    got = segmenter_client.get("/v1/orders/ord-c-1-1", headers=shop.header(shop.reader))
    assert got.status_code == 404


def test_a_campaign_scheduled_past_the_window_is_a_422(
    messenger_client: TestClient, cloud: Cloud, shop: ShopKeys
) -> None:
    r = messenger_client.post(
        "/v1/campaigns",
        json={
            "campaign_id": "far",
            "segment_id": "vip",
            "variants": [{"name": "a", "message_id": "m"}],
            "scheduled_at": "9999-12-31T23:59:59Z",
        },
        headers=_key(cloud, shop, "messages:send"),
    )
    assert r.status_code == 422, r.text
    assert "scheduled_at" in _fields(r)


@pytest.fixture
def feedback_client(cloud: Cloud) -> TestClient:
    from feedback.entrypoints.api import app

    return TestClient(app)


def test_survey_results_since_year_one_is_a_422_naming_since(
    feedback_client: TestClient, cloud: Cloud, shop: ShopKeys
) -> None:
    r = feedback_client.get(
        "/v1/surveys/s-1/results",
        params={"since": "0001-01-01T00:00:00+14:00"},
        headers=_key(cloud, shop, "feedback:read"),
    )
    assert r.status_code == 422, r.text
    assert _fields(r) == ["since"]


def test_an_invitation_to_an_empty_customer_id_is_a_422(
    feedback_client: TestClient, cloud: Cloud, shop: ShopKeys
) -> None:
    r = feedback_client.post(
        "/v1/surveys/s-1/invitations",
        json={"invitation_id": "i-1", "customer_ids": [""]},
        headers=_key(cloud, shop, "messages:send"),
    )
    assert r.status_code == 422, r.text
    assert _fields(r) == ["customer_ids.0"]


def test_an_unexpected_failure_is_the_json_error_with_a_request_id_in_the_log(
    segmenter_client: TestClient, cloud: Cloud, shop: ShopKeys
) -> None:
    # Given the segmenter's table is gone (a broken deployment)
    cloud.dynamodb.delete_table(TableName=cloud.settings.segmenter_table)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    from shared.log import JsonFormatter

    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("kizuna")
    logger.addHandler(handler)
    try:
        # When a reader lists customers
        r = segmenter_client.get("/v1/customers", headers=shop.header(shop.reader))
    finally:
        logger.removeHandler(handler)
    # Then the answer is the documented error, code internal, with a request id
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    request_id = r.headers["X-Request-Id"]
    assert error["code"] == "internal" and request_id in error["message"]
    # And the JSON log has one line with the same id and the exception's class only
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    logged = [line for line in lines if line.get("request_id") == request_id]
    assert len(logged) == 1
    assert logged[0]["exception"] == "ResourceNotFoundException"
    assert logged[0]["route"] == "/v1/customers"


def test_a_405_carries_allow(segmenter_client: TestClient, shop: ShopKeys) -> None:
    r = segmenter_client.delete("/v1/orders", headers=shop.header(shop.events))
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"
    assert r.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "path", ["/v1/customers", "/v1/segments/vip/members", "/v1/segments/loyal/members"]
)
def test_a_garbage_cursor_is_a_422_naming_cursor(
    segmenter_client: TestClient, shop: ShopKeys, path: str
) -> None:
    r = segmenter_client.get(path, params={"cursor": "zzz"}, headers=shop.header(shop.reader))
    assert r.status_code == 422, r.text
    assert _fields(r) == ["cursor"]


# ---------------------------------------------------------------------------- OpenAPI


@pytest.fixture
def local(cloud: Cloud) -> TestClient:
    """The local stack's one base URL, routed by the template as API Gateway routes it."""
    return TestClient(Dispatcher(build_routes(functions(load_template(TEMPLATE)))))


SERVICES = ["segmenter", "messenger", "feedback"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_serves_its_openapi_at_the_documented_path(
    local: TestClient, service: str
) -> None:
    r = local.get(f"/v1/openapi/{service}.json")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == f"Kizuna {service}"


def _doc(local: TestClient, service: str) -> dict[str, Any]:
    return dict(local.get(f"/v1/openapi/{service}.json").json())


def test_the_error_statuses_are_declared_with_the_error_schema(local: TestClient) -> None:
    doc = _doc(local, "segmenter")
    error = {"$ref": "#/components/schemas/ErrorPublic"}
    declared = doc["paths"]["/v1/segments/{segment_id}"]["delete"]["responses"]
    assert {"401", "403", "404", "409", "422"} <= set(declared)
    posted = doc["paths"]["/v1/orders"]["post"]["responses"]
    assert {"401", "403", "409", "413", "422"} <= set(posted)
    for status in ("401", "413", "422"):
        assert posted[status]["content"]["application/json"]["schema"] == error
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_quiet_hours_are_a_pattern_not_a_time_format(local: TestClient) -> None:
    schemas = _doc(local, "messenger")["components"]["schemas"]
    for name in ("PolicyUpdate", "PolicyPublic"):
        for field in ("quiet_start", "quiet_end"):
            prop = schemas[name]["properties"][field]
            assert "format" not in prop and prop["pattern"].startswith("^"), (name, field)


def test_the_csv_export_is_documented_as_text_csv(local: TestClient) -> None:
    doc = _doc(local, "segmenter")
    ok = doc["paths"]["/v1/segments/{segment_id}/export"]["get"]["responses"]["200"]
    assert list(ok["content"]) == ["text/csv"]


def test_the_delivery_log_declares_its_cursor(local: TestClient) -> None:
    op = _doc(local, "messenger")["paths"]["/v1/deliveries"]["get"]
    assert "cursor" in [p["name"] for p in op["parameters"]]
    assert "X-Next-Cursor" in op["responses"]["200"]["headers"]
