"""The local HTTP dispatcher: the template's routes, one base URL, 404 for the rest."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, BinaryIO

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import ASGIApp

from ops.local.router import Dispatcher, build_routes, match_route
from ops.local.template import FunctionSpec, HttpRoute


def spec(logical_id: str, handler: str, *routes: tuple[str, str]) -> FunctionSpec:
    return FunctionSpec(logical_id, handler, tuple(HttpRoute(p, p, m) for p, m in routes))


SPECS = [
    spec(
        "Orders",
        "orders.entrypoints.api.handler",
        ("/v1/orders", "ANY"),
        ("/v1/orders/{proxy+}", "ANY"),
    ),
    spec("Unsub", "unsub.entrypoints.api.handler", ("/u/{token}", "GET")),
    spec("Special", "special.entrypoints.api.handler", ("/v1/orders/special", "POST")),
]
ROUTES = build_routes(SPECS)


@pytest.mark.parametrize(
    ("method", "path", "function"),
    [
        ("GET", "/v1/orders", "Orders"),
        ("POST", "/v1/orders/", "Orders"),
        ("GET", "/v1/orders/o-1", "Orders"),
        ("PATCH", "/v1/orders/o-1/items/2", "Orders"),
        ("POST", "/v1/orders/special", "Special"),  # exact beats greedy
        ("GET", "/v1/orders/special", "Orders"),  # method decides, then greedy catches it
        ("GET", "/u/abc.def", "Unsub"),
        ("GET", "/v1/ordersx", None),
        ("GET", "/u", None),  # {token} needs one segment
        ("GET", "/u/a/b", None),  # and only one
        ("POST", "/u/abc", None),  # GET only
        ("GET", "/", None),
    ],
)
def test_routes_match_like_api_gateway(method: str, path: str, function: str | None) -> None:
    # Given the routes of three functions / When a request comes in
    route = match_route(ROUTES, method, path)
    # Then the function API Gateway would pick serves it (or none)
    assert (route.function_id if route else None) == function


def make_app(name: str) -> FastAPI:
    app = FastAPI()

    @app.api_route("/{rest:path}", methods=["GET", "POST", "PATCH"])
    async def echo(rest: str) -> dict[str, Any]:
        return {"app": name, "path": "/" + rest}

    return app


def test_dispatcher_hands_the_full_path_to_the_function_app() -> None:
    # Given a dispatcher whose apps are loaded from the handler path on first use
    loaded: list[str] = []

    def loader(handler: str) -> ASGIApp:
        loaded.append(handler)
        return make_app(handler.split(".", maxsplit=1)[0])

    client = TestClient(Dispatcher(ROUTES, app_loader=loader))
    # When two requests hit the orders function and one the unsubscribe function
    first = client.get("/v1/orders/o-1")
    client.get("/v1/orders")
    unsub = client.get("/u/tok")
    # Then each app gets the full path, and is imported once
    assert first.json() == {"app": "orders", "path": "/v1/orders/o-1"}
    assert unsub.json() == {"app": "unsub", "path": "/u/tok"}
    assert loaded == ["orders.entrypoints.api.handler", "unsub.entrypoints.api.handler"]


def test_dispatcher_answers_unknown_routes_with_a_json_404() -> None:
    # Given a dispatcher / When a path no function declares is requested
    client = TestClient(Dispatcher(ROUTES, app_loader=make_app))
    response = client.get("/v1/nothing")
    # Then 404 with the API's error shape
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "route_not_found"
    # And the local health endpoint answers without any control attached
    assert client.get("/_local/health").json()["status"] == "ok"


class FakeControl:
    """The stack's control side, with one schedule."""

    def sandbox_messages(self) -> list[Any]:
        return []

    def schedules(self) -> dict[str, str]:
        return {"Nightly": "cron(0 18 * * ? *)"}

    def fire_schedule(self, name: str) -> Any:
        return {"fired": name}

    def drain(self, timeout: float = 30) -> None:
        return None

    def advance_clock(
        self,
        delta: timedelta,
        step: timedelta = timedelta(hours=1),
        schedules: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        fired = sorted(schedules) if schedules is not None else None
        return {"advanced": str(delta), "step": str(step), "schedules": fired}

    def request_counts(self) -> dict[str, int]:
        return {"Query": 3, "TransactWriteItems": 2}

    def import_orders(
        self,
        source: BinaryIO,
        fmt: str,
        shop_id: str,
        *,
        encoding: str,
        max_errors: int,
        progress: Callable[[dict[str, Any]], None],
    ) -> dict[str, Any]:
        data = source.read()
        progress({"bytes": len(data), "rows": data.count(b"\n")})
        return {"shop": shop_id, "format": fmt, "rows_read": data.count(b"\n")}


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "field"),
    [
        ("GET", "/_local/nothing", 404, "route_not_found", "path"),
        ("GET", "/_local", 404, "route_not_found", "path"),
        ("GET", "/_local/schedules/Nightly/now", 404, "route_not_found", "path"),
        ("POST", "/_local/schedules/Nope", 404, "schedule_not_found", "schedule"),
        ("GET", "/_local/drain", 405, "method_not_allowed", "method"),
        ("POST", "/_local/sandbox", 405, "method_not_allowed", "method"),
        ("DELETE", "/_local/schedules/Nightly", 405, "method_not_allowed", "method"),
        ("GET", "/_local/clock", 405, "method_not_allowed", "method"),
        ("POST", "/_local/requests", 405, "method_not_allowed", "method"),
        ("GET", "/v1/nothing", 404, "route_not_found", "path"),
    ],
)
def test_local_endpoints_name_the_bad_part_of_a_request(
    method: str, path: str, status: int, code: str, field: str
) -> None:
    # Given a dispatcher with the stack's control endpoints
    client = TestClient(Dispatcher(ROUTES, control=FakeControl(), app_loader=make_app))
    # When a request names no endpoint, the wrong method or no schedule
    response = client.request(method, path)
    # Then the services' error format names the field that was wrong
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert [f["field"] for f in error["fields"]] == [field]
    if status == 405:
        assert response.headers["Allow"] in ("GET", "POST")


def test_local_endpoints_answer_what_they_serve() -> None:
    # Given a dispatcher with the stack's control endpoints
    client = TestClient(Dispatcher(ROUTES, control=FakeControl(), app_loader=make_app))
    # When each is called with its method / Then it answers
    assert client.get("/_local/health").json()["status"] == "ok"
    assert client.get("/_local/sandbox").json() == []
    assert client.post("/_local/drain").json() == {"drained": True}
    assert client.get("/_local/schedules").json() == {"Nightly": "cron(0 18 * * ? *)"}
    fired = client.post("/_local/schedules/Nightly").json()
    assert fired == {"schedule": "Nightly", "result": {"fired": "Nightly"}}
    assert client.get("/_local/requests").json() == {"Query": 3, "TransactWriteItems": 2}
    body = b"Name,Email\n" * 50_000  # larger than one ASGI body message
    imported = client.post("/_local/import/orders?shop=acme&format=generic", content=body)
    lines = [json.loads(line) for line in imported.text.splitlines()]
    assert lines == [
        {"progress": {"bytes": len(body), "rows": 50_000}},
        {"summary": {"shop": "acme", "format": "generic", "rows_read": 50_000}},
    ]


def test_a_clock_advance_may_name_its_step_and_the_schedules_that_fire() -> None:
    """Given a dispatcher with the stack's control endpoints (one schedule, Nightly)
    When the clock is advanced with a step and a list of schedules, then with a bad step
    and with a schedule the stack does not have
    Then the first reaches the stack as asked, and each bad one is a 422 naming its field."""
    client = TestClient(Dispatcher(ROUTES, control=FakeControl(), app_loader=make_app))
    asked = {"advance": "2d", "step": "12h", "schedules": ["Nightly"]}
    moved = client.post("/_local/clock", json=asked).json()
    assert moved == {"advanced": "2 days, 0:00:00", "step": "12:00:00", "schedules": ["Nightly"]}
    plain = client.post("/_local/clock", json={"advance": "90m"}).json()
    assert plain == {"advanced": "1:30:00", "step": "1:00:00", "schedules": None}
    for bad, field in (
        ({"advance": "2d", "step": "0h"}, "step"),
        ({"advance": "2d", "schedules": ["Nope"]}, "schedules"),
        ({"advance": "2d", "schedules": "Nightly"}, "schedules"),
    ):
        refused = client.post("/_local/clock", json=bad)
        assert refused.status_code == 422, bad
        assert [f["field"] for f in refused.json()["error"]["fields"]] == [field]
