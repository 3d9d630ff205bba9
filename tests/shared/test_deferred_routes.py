"""Routes built on first use (`shared/http/deferred.py`) answer and document exactly as
routes built at import do: a deferred route is built by FastAPI on its first use, and a
route group (`RouteGroup`) is imported when a request first reaches its paths."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, FastAPI, Query
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from shared.http.app import create_service_app
from shared.http.deferred import DeferredAPIRoute, deferred_router, later
from tests.shared.fresh import run_fresh


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    size: int = Field(ge=1)


def _declare(router: APIRouter, extra: dict[str, Any]) -> None:
    @router.get("/v1/items")
    def list_items(limit: Annotated[int, Query(ge=1, le=5)] = 2) -> list[Item]:
        return [Item(name=f"n{i}", size=i + 1) for i in range(limit)]

    @router.post("/v1/items", status_code=201, openapi_extra=extra)
    def create_item(body: Item) -> Item:
        return body

    @router.get("/v1/items/{item_id}")
    def get_item(item_id: int) -> Item:
        return Item(name=f"n{item_id}", size=item_id)

    @router.get("/v1/files/{path:path}")
    def get_file(path: str) -> dict[str, str]:
        return {"path": path}


def _app(router: APIRouter) -> FastAPI:
    return create_service_app(
        title="items",
        service="items",
        routers=[router],
        container_factory=object,  # type: ignore[arg-type]
        max_body_bytes=lambda: 1000,
    )


EXTRA = {"x-kind": "item"}


@pytest.fixture
def apps() -> tuple[FastAPI, FastAPI]:
    built, lazy = APIRouter(), deferred_router()
    _declare(built, EXTRA)
    _declare(lazy, later(lambda: EXTRA))
    return _app(built), _app(lazy)


def _built(app: FastAPI) -> list[str]:
    return [r.path for r in app.router.routes if isinstance(r, APIRoute) and "dependant" in vars(r)]


REQUESTS = [
    ("GET", "/v1/items", None),
    ("GET", "/v1/items?limit=9", None),
    ("POST", "/v1/items", {"name": "a", "size": 2}),
    ("POST", "/v1/items", {"name": "", "size": 0}),
    ("DELETE", "/v1/items", None),
    ("GET", "/v1/items/7", None),
    ("GET", "/v1/items/seven", None),
    ("GET", "/v1/items/", None),
    ("GET", "/v1/files/a/b.txt", None),
    ("GET", "/v1/nothing", None),
]


def test_a_deferred_route_is_built_by_the_first_request_that_can_reach_it(
    apps: tuple[FastAPI, FastAPI],
) -> None:
    """Given an app whose routes are deferred
    When nothing has been asked yet, then one item is read
    Then no route is built at first, and the read builds only the routes whose path
    could be its own (`/v1/items/...`), not the list, nor the files."""
    _, lazy = apps
    assert _built(lazy) == []
    response = TestClient(lazy).get("/v1/items/3")
    assert response.status_code == 200
    assert response.json() == {"name": "n3", "size": 3}
    assert _built(lazy) == ["/v1/items/{item_id}"]


@pytest.mark.parametrize(("method", "url", "body"), REQUESTS)
def test_a_deferred_route_answers_as_a_route_built_at_import(
    apps: tuple[FastAPI, FastAPI], method: str, url: str, body: object
) -> None:
    """Given the same routes built at import and deferred
    When the same request reaches each (a valid call, a bad parameter or body, a wrong
    method, a trailing slash, a path parameter spanning slashes, an unknown path)
    Then both answer with the same status, headers and body."""
    built, lazy = apps
    answers = [
        TestClient(app, follow_redirects=False).request(method, url, json=body)
        for app in (built, lazy)
    ]
    assert answers[0].status_code == answers[1].status_code
    assert answers[0].headers == answers[1].headers
    assert answers[0].content == answers[1].content


def test_deferred_routes_are_documented_and_listed_as_routes_built_at_import(
    apps: tuple[FastAPI, FastAPI],
) -> None:
    """Given the same routes built at import and deferred, none requested yet
    When the OpenAPI document is made and the app's routes are walked
    Then the documents are the same (error statuses and deferred arguments included),
    and every route is a complete `APIRoute`."""
    built, lazy = apps
    assert lazy.openapi() == built.openapi()
    assert lazy.openapi()["paths"]["/v1/items"]["post"]["x-kind"] == "item"
    walked = [(r.path, r.methods, r.dependant.call) for r in lazy.routes if isinstance(r, APIRoute)]
    assert [(p, m) for p, m, _ in walked] == [
        (r.path, r.methods) for r in built.routes if isinstance(r, APIRoute)
    ]


MESSENGER_IMPORT = """
import json
from messenger.entrypoints.api import app
routes = app.router.routes
print(json.dumps([[r.path for r in routes if "dependant" in vars(r)], len(routes)]))
"""


def test_the_messenger_api_builds_no_route_at_import() -> None:
    """Given a fresh interpreter
    When the messenger's API is imported (the start of its cold start)
    Then no route is built, its own nor the personal-data routes of the shared layer:
    each waits for the first request that can reach it."""
    built, table = json.loads(run_fresh(MESSENGER_IMPORT).splitlines()[-1])
    assert built == []
    assert table >= 50  # its 48 routes and the two personal-data routes, all waiting


def test_threads_reaching_a_deferred_route_together_build_it_once(
    apps: tuple[FastAPI, FastAPI],
) -> None:
    """Given a deferred route nothing has built yet
    When eight threads ask for its dependencies at once
    Then every thread gets the same dependency tree: the route was built once."""
    _, lazy = apps
    route = next(r for r in lazy.router.routes if isinstance(r, DeferredAPIRoute))
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: route.dependant, range(8)))
    assert all(d is found[0] for d in found)
    assert getattr(found[0].call, "__name__", None) == "list_items"


GROUPS_PROBE = """
import json, sys
from fastapi.testclient import TestClient
from segmenter.entrypoints.api import app

GROUPS = [
    "segmenter.entrypoints.ingest_routes",
    "segmenter.entrypoints.customer_routes",
    "segmenter.entrypoints.segment_routes",
    "segmenter.entrypoints.analytics_routes",
    "shared.http.admin",
]
client = TestClient(app)
client.get("/v1/segments")
group = next(g for g in app.router.routes if getattr(g, "module", "").endswith("segment_routes"))
built = [r.path for r in group.routes if "dependant" in vars(r)]
answers = {}
for method, path in [("GET", "/v1/segments"), ("PATCH", "/v1/segments"),
                     ("GET", "/v1/segments/"), ("GET", "/v1/segmentsx")]:
    r = client.request(method, path, follow_redirects=False)
    answers[f"{method} {path}"] = [r.status_code, r.headers.get("allow"),
                                   r.headers.get("location")]
loaded = [g for g in GROUPS if g in sys.modules]
paths = sorted({getattr(r, "path", "") for r in app.routes})
print(json.dumps({"answers": answers, "loaded": loaded, "built": built, "paths": paths,
                  "documented": sorted(app.openapi()["paths"])}))
"""


def test_a_group_is_imported_by_the_first_request_that_reaches_it() -> None:
    """Given the segmenter's API in a fresh interpreter
    When requests reach `/v1/segments` only (a list without a key, a method it does not
    serve, a trailing slash, a path outside every route)
    Then they are answered as by any route (401, 405 with `Allow`, a redirect, 404), only
    the segments group is imported, its first request built only the route it reached,
    and the app's routes still list every route of every group, each in the OpenAPI
    document."""
    found = json.loads(run_fresh(GROUPS_PROBE).splitlines()[-1])

    assert found["answers"] == {
        "GET /v1/segments": [401, None, None],
        "PATCH /v1/segments": [405, "GET", None],
        "GET /v1/segments/": [307, None, "http://testserver/v1/segments"],
        "GET /v1/segmentsx": [404, None, None],
    }
    assert found["loaded"] == ["segmenter.entrypoints.segment_routes"]
    assert found["built"] == ["/v1/segments"]
    for prefix in ("/v1/orders", "/v1/events", "/v1/customers", "/v1/analytics", "/v1/admin"):
        assert any(p.startswith(prefix) for p in found["paths"]), prefix
    documented = {p.replace("{order_id}", "{order_id:path}") for p in found["documented"]}
    documented = {p.replace("{customer_id}", "{customer_id:path}") for p in documented}
    assert documented <= set(found["paths"])
