"""Route groups (`shared.http.app.RouteGroup`): an API imports each group of routes when
a request first reaches its paths, and answers exactly as if every route were in its
table from the start."""

from __future__ import annotations

import json

from tests.shared.fresh import run_fresh

PROBE = """
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
answers = {}
for method, path in [("GET", "/v1/segments"), ("PATCH", "/v1/segments"),
                     ("GET", "/v1/segments/"), ("GET", "/v1/segmentsx")]:
    r = client.request(method, path, follow_redirects=False)
    answers[f"{method} {path}"] = [r.status_code, r.headers.get("allow"),
                                   r.headers.get("location")]
loaded = [g for g in GROUPS if g in sys.modules]
paths = sorted({getattr(r, "path", "") for r in app.routes})
print(json.dumps({"answers": answers, "loaded": loaded, "paths": paths,
                  "documented": sorted(app.openapi()["paths"])}))
"""


def test_a_group_is_imported_by_the_first_request_that_reaches_it() -> None:
    """Given the segmenter's API in a fresh interpreter
    When requests reach `/v1/segments` only (a list without a key, a method it does not
    serve, a trailing slash, a path outside every route)
    Then they are answered as by any route (401, 405 with `Allow`, a redirect, 404), only
    the segments group is imported, and the app's routes still list every route of every
    group, each in the OpenAPI document."""
    found = json.loads(run_fresh(PROBE).splitlines()[-1])

    assert found["answers"] == {
        "GET /v1/segments": [401, None, None],
        "PATCH /v1/segments": [405, "GET", None],
        "GET /v1/segments/": [307, None, "http://testserver/v1/segments"],
        "GET /v1/segmentsx": [404, None, None],
    }
    assert found["loaded"] == ["segmenter.entrypoints.segment_routes"]
    for prefix in ("/v1/orders", "/v1/events", "/v1/customers", "/v1/analytics", "/v1/admin"):
        assert any(p.startswith(prefix) for p in found["paths"]), prefix
    documented = {p.replace("{order_id}", "{order_id:path}") for p in found["documented"]}
    documented = {p.replace("{customer_id}", "{customer_id:path}") for p in documented}
    assert documented <= set(found["paths"])
