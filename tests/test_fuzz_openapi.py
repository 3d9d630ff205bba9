"""Fuzzing every service's OpenAPI document: whatever a client sends that the document
allows (and much that it does not), the answer is never a 5xx.

Schemathesis generates requests from each operation of `/v1/openapi/<service>.json`
and sends them to the app in-process on moto with a valid admin key. The number of
examples is small and derandomised, so the run is the same every time and stays fast.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from tests.conftest import Cloud, ShopKeys

EXAMPLES = 4


def _app(service: str) -> FastAPI:
    if service == "segmenter":
        from segmenter.entrypoints.api import app as segmenter

        return segmenter
    if service == "messenger":
        from messenger.entrypoints.api import app as messenger

        return messenger
    from feedback.entrypoints.api import app as feedback

    return feedback


@pytest.mark.parametrize("service", ["segmenter", "messenger", "feedback"])
def test_no_generated_request_gets_a_5xx(cloud: Cloud, shop: ShopKeys, service: str) -> None:
    # Given the service's own OpenAPI document and a valid admin key
    schema = schemathesis.openapi.from_asgi(f"/v1/openapi/{service}.json", _app(service))
    auth = shop.header(shop.admin)
    server_errors: list[str] = []
    statuses: set[int] = set()

    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err raises here: good

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def send(case: Any) -> None:
            # When a generated request is sent
            response = case.call(headers=auth)
            statuses.add(response.status_code)
            # Then it is never a server error
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code} "
                    f"{response.text[:200]}"
                )

        send()

    assert server_errors == []
    # And the key was taken: some requests got through to the domain
    assert any(200 <= status < 300 for status in statuses), statuses
