"""Shop isolation, walked from every service's OpenAPI document: every operation is
called with another shop's keys on the first shop's ids, so a route added tomorrow is
covered without a line of this file (unless it names a path parameter never seen
before, which fails here until it is given one of the first shop's ids).

For each operation: shop B's admin key with shop A's ids never gets A's data back (a
404, a refusal, or B's own empty answer, never a 5xx); a B key holding every scope but
the one the route requires gets a 403. Afterwards A still reads all of its data, as it
was. The scope a route requires is read from its own dependencies (`require_<scope>`);
the routes that need no key are listed here, so a new public route fails until reviewed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from shared.auth.keys import SCOPES
from shared.auth.service import authenticate_token, create_key
from tests.conftest import Cloud, ShopKeys, make_shop, order_payload
from tests.feedback.conftest import SURVEY

SECRET = "acme-secret"
"""In every record shop A stores (an email, names, titles, subjects): found in an answer
to shop B only if A's data leaked."""

A_IDS = {
    "customer_id": "c-1",
    "order_id": "ord-c-1-1",
    "segment_id": "acme-vip",
    "message_id": "acme-msg",
    "journey_id": "acme-journey",
    "survey_id": "why-bought",
    "key_id": "",  # A's reader key, filled in by the test
    "session_id": "sess-a",
    "erasure_id": "erasure-a",
    "delivery_id": "delivery-a",
    "campaign_id": "campaign-a",
    "pool_id": "pool-a",
    "code": "CODE-A",
    "insert_id": "insert-a",
    "sku": "SERUM-30",
    "report": "rfm",
    "name": "welcome",
    "action": "pause",
    "day": "2026-11-23",
    "token": "token-a",
    "shop_id": "acme",
}
"""A value of shop A's for every path parameter of every service."""

PUBLIC = {
    ("POST", "/v1/webhooks/line/{shop_id}"),
    ("POST", "/v1/webhooks/line"),
    ("POST", "/v1/webhooks/ses"),
    ("GET", "/t/o/{token}"),
    ("GET", "/t/c/{token}"),
    ("GET", "/u/{token}"),
    ("POST", "/u/{token}"),
}
"""Routes no key opens (signed links and provider webhooks): each checks its own
signature instead."""


EITHER = {
    ("GET", "/v1/surveys"): frozenset({"feedback:read", "feedback:write"}),
    ("GET", "/v1/surveys/{survey_id}"): frozenset({"feedback:read", "feedback:write"}),
}
"""Routes a key opens with any of several scopes (checked by their own dependency): a
storefront reads a survey to render its form."""


def _apps() -> dict[str, FastAPI]:
    from feedback.entrypoints.api import app as feedback
    from messenger.entrypoints.api import app as messenger
    from segmenter.entrypoints.api import app as segmenter

    return {"segmenter": segmenter, "messenger": messenger, "feedback": feedback}


def _dependencies(route: APIRoute) -> Iterator[str]:
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        yield getattr(dependency.call, "__name__", "")
        stack.extend(dependency.dependencies)


def _scopes(app: FastAPI, method: str, path: str) -> frozenset[str]:
    """The scopes any of which opens the operation's route (none: no key at all)."""
    for route in app.routes:
        documented = re.sub(r"{(\w+):\w+}", r"{\1}", getattr(route, "path", ""))
        if isinstance(route, APIRoute) and documented == path and method in (route.methods or ()):
            names = set(_dependencies(route))
            required = {n for n in names if n.startswith("require_")}
            if (method, path) in EITHER:
                return EITHER[(method, path)]
            assert required or "authenticated" not in names, f"{method} {path}: its scope?"
            return frozenset(n.removeprefix("require_").replace("_", ":", 1) for n in required)
    raise AssertionError(f"{method} {path} is in the OpenAPI document but not a route")


def _operations() -> list[tuple[str, str, str]]:
    """(service, METHOD, path) of every operation every service documents."""
    found = []
    for service, app in _apps().items():
        for path, item in app.openapi()["paths"].items():
            found += [(service, method.upper(), path) for method in item]
    return found


def _url(path: str, ids: dict[str, str]) -> str:
    params = re.findall(r"{(\w+)}", path)
    unknown = [p for p in params if p not in ids]
    assert not unknown, f"{path}: give shop A an id for {unknown} in A_IDS"
    return path.format(**{p: ids[p] for p in params})


def _call(client: TestClient, method: str, url: str, token: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    body: dict[str, Any] | None = None if method in ("GET", "DELETE") else {}
    return client.request(method, url, json=body, headers=headers)


@pytest.fixture
def clients(cloud: Cloud) -> Iterator[dict[str, TestClient]]:
    apps = _apps()
    for app in apps.values():
        app.state.container = None  # built on first use, on this test's moto
    yield {service: TestClient(app) for service, app in apps.items()}
    for app in apps.values():
        app.state.container = None


def _seed(clients: dict[str, TestClient], shop: ShopKeys) -> list[tuple[str, str]]:
    """Shop A's data in every service; the paths A reads it back from."""
    admin = {"Authorization": f"Bearer {shop.admin}"}
    order = order_payload(1, email=f"{SECRET}@acme.example.jp")
    order["customer"]["last_name"] = SECRET
    order["items"][0]["sku"] = f"{SECRET}-serum"
    segmenter, messenger, feedback = (clients[s] for s in ("segmenter", "messenger", "feedback"))
    placed = segmenter.post("/v1/orders", json=order, headers=admin)
    assert placed.status_code == 201, placed.text
    rule = {"field": "order_count", "op": "gte", "value": 1}
    segment = {"segment_id": "acme-vip", "name": f"{SECRET} buyers", "rule": rule}
    assert segmenter.post("/v1/segments", json=segment, headers=admin).status_code in (201, 202)
    text = f"{SECRET} {{{{ customer.last_name }}}}"
    message = {
        "message_id": "acme-msg",
        "name": f"{SECRET} welcome",
        "email": {"subject": text, "html": f"<p>{text}</p>", "text": text},
    }
    assert messenger.post("/v1/messages", json=message, headers=admin).status_code == 201
    journey = {
        "journey_id": "acme-journey",
        "name": f"{SECRET} journey",
        "trigger": {"event": "order.placed"},
        "start": "mail",
        "steps": {"mail": {"type": "send", "message_id": "acme-msg"}},
    }
    created = messenger.post("/v1/journeys", json=journey, headers=admin)
    assert created.status_code == 201, created.text
    survey = {**SURVEY, "title": f"{SECRET} survey"}
    assert feedback.post("/v1/surveys", json=survey, headers=admin).status_code == 201
    return [
        ("segmenter", "/v1/customers/c-1"),
        ("segmenter", "/v1/orders/ord-c-1-1"),
        ("segmenter", "/v1/segments/acme-vip"),
        ("messenger", "/v1/messages/acme-msg"),
        ("messenger", "/v1/journeys/acme-journey"),
        ("feedback", "/v1/surveys/why-bought"),
    ]


def _read(clients: dict[str, TestClient], shop: ShopKeys, paths: list[tuple[str, str]]) -> str:
    """A's own answers, each a 200 holding A's data."""
    seen = []
    for service, path in paths:
        answer = clients[service].get(path, headers={"Authorization": f"Bearer {shop.admin}"})
        assert answer.status_code == 200, (path, answer.text)
        assert SECRET in answer.text, path
        seen.append(answer.text)
    return "\n".join(seen)


def test_every_route_keeps_shop_a_from_shop_b(
    cloud: Cloud, shop: ShopKeys, clients: dict[str, TestClient]
) -> None:
    """Given shop A (acme) with a customer, an order, a segment, a message, a journey and
    a survey, each holding a secret string, and shop B (beta) with an admin key and one
    key per route scope holding every other scope
    When every operation of every service's OpenAPI is called with B's keys on A's ids
    Then no answer is a 5xx or holds A's secret, and many are 404s; each scoped route
    refuses the key without its scope with a 403; A still reads every record of its own,
    as before, and its keys still work."""
    a_paths = _seed(clients, shop)
    ids = {**A_IDS, "key_id": authenticate_token(cloud.keys, shop.reader).key_id}
    before = _read(clients, shop, a_paths)
    beta = make_shop(cloud, "beta")
    beta_admin = authenticate_token(cloud.keys, beta.admin)
    without: dict[frozenset[str], str] = {}

    operations = _operations()
    exercised: set[tuple[str, str]] = set()
    statuses: dict[int, int] = {}

    for service, method, path in operations:
        app = _apps()[service]
        scopes = _scopes(app, method, path)
        if not scopes:
            assert (method, path) in PUBLIC, f"{method} {path} needs no key: review it"
            continue
        if scopes not in without:
            others = sorted(SCOPES - scopes - {"admin"})
            without[scopes] = create_key(cloud.keys, beta_admin, "other scopes", others).token
        url = _url(path, ids)
        answer = _call(clients[service], method, url, beta.admin)
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        assert answer.status_code < 500, (method, path, answer.text)
        assert SECRET not in answer.text, (method, path, answer.text)
        refused = _call(clients[service], method, url, without[scopes])
        assert refused.status_code == 403, (method, path, scopes, refused.status_code)
        exercised.add((method, path))

    assert exercised | PUBLIC == {(m, p) for _, m, p in operations}
    assert len(exercised) > 80  # every scoped route of the three services
    assert statuses[404] > 20, statuses  # A's ids are not found for B
    assert _read(clients, shop, a_paths) == before
    assert authenticate_token(cloud.keys, shop.reader).key_id == ids["key_id"]  # not revoked
