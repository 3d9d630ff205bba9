"""Every route of every app checks the API key, except the signed-link routes."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.conftest import Cloud

SIGNED_LINK_ROUTES = {"/u/{token}", "/t/o/{token}", "/t/c/{token}"}
"""Reached from a mail without a login (unsubscribe, open pixel, tracked link); the
signature in the link is the credential, and a bad one is refused by its own test."""


def _apps() -> dict[str, object]:
    from feedback.entrypoints.api import app as feedback
    from messenger.entrypoints.api import app as messenger
    from segmenter.entrypoints.api import app as segmenter

    return {"segmenter": segmenter, "messenger": messenger, "feedback": feedback}


@pytest.mark.parametrize("name", ["segmenter", "messenger", "feedback"])
def test_every_route_refuses_a_call_without_a_key(name: str, cloud: Cloud) -> None:
    app = _apps()[name]
    client = TestClient(app)  # type: ignore[arg-type]
    routes = [
        r
        for r in app.routes  # type: ignore[attr-defined]
        if isinstance(r, APIRoute) and r.include_in_schema and r.path not in SIGNED_LINK_ROUTES
    ]
    for route in routes:
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        for method in route.methods or ():
            response = client.request(method, path, json={})
            assert response.status_code == 401, (name, method, route.path)
