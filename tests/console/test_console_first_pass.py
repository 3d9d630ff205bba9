"""The console before a shop's first analytics pass, in headless Chromium: it says the
figures are not computed yet (never zeros) and offers to compute them. Its own module:
the fresh shop needs its own moto, not the analysed pair the other browser modules share."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Cloud, make_shop, order_payload
from tests.console.browser import CHROMIUM, Console

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"
)


def test_before_the_first_analytics_pass_the_overview_says_so_and_asks_for_one(
    cloud: Cloud, segmenter_client: TestClient, base_url: str, browser: Any
) -> None:
    """Given a new shop with one order and no analytics pass yet
    When its admin opens the overview
    Then it says the figures are not computed yet (never zeros), and its button asks for
    a pass: the report's status becomes `queued`."""
    keys = make_shop(cloud, "fresh")
    body = order_payload()
    assert (
        segmenter_client.post("/v1/orders", json=body, headers=keys.header(keys.events)).status_code
        == 201
    )
    console = Console(browser, base_url)
    console.sign_in(keys.admin)
    page = console.page
    assert "未計算" in page.locator("#pending").inner_text()
    assert page.locator("#kpi-customers").count() == 0
    with page.expect_response(
        lambda r: r.url.endswith("/v1/analytics/refresh") and r.request.method == "POST"
    ) as answered:
        page.click("#refresh")
    assert answered.value.status == 202
    page.wait_for_selector("#refresh[disabled]")
    pending = segmenter_client.get("/v1/analytics/repeat", headers=keys.header(keys.reader))
    assert pending.status_code == 202 and pending.json()["status"] == "queued"
    assert console.other_hosts() == []
