"""The console in headless Chromium (Debian's), over real HTTP: every function of the
template behind one base URL (the local stack's dispatcher) on in-process moto, with a
small shop's two years of orders scored and analysed. What a marketer would notice: the
pages show the shop's figures, the chart draws, a cell of the RFM grid lists its people
and saves them as a segment, both languages label everything, another shop's key sees
none of it, a read-only key changes nothing, and the page asks no other host for anything.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.browser import needs_chromium
from tests.console.browser import PHONE, Console, coloured_pixels
from tests.console.conftest import Shops, Stack

pytestmark = needs_chromium


@pytest.fixture
def shops(stack: Stack) -> Shops:
    """The module's shop pair, loaded and analysed once (`stack`)."""
    return stack.shops


@pytest.fixture
def base_url(stack: Stack) -> str:
    return stack.base_url


@pytest.fixture
def segmenter_client(stack: Stack) -> TestClient:
    return stack.segmenter


def test_a_marketer_signs_in_and_sees_the_shop(
    shops: Shops, base_url: str, browser: Any, segmenter_client: TestClient, tmp_path: Path
) -> None:
    """Given acme's marketer key
    When they sign in and open the overview
    Then the figures are acme's, in Japanese form, and the chart is drawn in pixels."""
    console = Console(browser, base_url)
    console.sign_in(shops.acme_marketer)
    page = console.page
    expected = segmenter_client.get(
        "/v1/analytics/list-analysis", headers=shops.acme.header(shops.acme.reader)
    ).json()["rows"][-1]
    assert page.locator("#kpi-customers .value").inner_text() == f"{expected['total']:,}"
    assert re.fullmatch(r"\d+(\.\d)?%", page.locator("#kpi-f2 .value").inner_text())
    assert re.fullmatch(r"¥\d{1,3}(,\d{3})*", page.locator("#kpi-ltv .value").inner_text())
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", page.locator("main").inner_text())
    assert page.locator("#forecast tbody tr").count() == 6
    png = console.screenshot("console-overview.png", tmp_path)
    box = page.locator("#trend-chart canvas").bounding_box()
    assert box is not None
    drawn = coloured_pixels(png, box)
    line_colours = {(0x2B, 0x59, 0xC3), (0x1E, 0x7B, 0x4F), (0xB3, 0x26, 0x1E)}
    assert sum(n for c, n in drawn.items() if c in line_colours) > 200, sorted(
        drawn.items(), key=lambda kv: -kv[1]
    )[:5]
    # And revenue over time is drawn in gold, its table the revenue report's months
    months = segmenter_client.get(
        "/v1/analytics/revenue", headers=shops.acme.header(shops.acme.reader)
    ).json()["rows"]
    assert page.locator("#revenue tbody tr").count() == len(months) > 12
    box = page.locator("#revenue-chart canvas").bounding_box()
    assert box is not None
    gold = sum(n for (r, g, b), n in coloured_pixels(png, box).items() if r > b + 60 and g > b)
    assert gold > 200
    assert console.errors == []
    assert console.other_hosts() == []


CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _api(client: TestClient, keys: Any, method: str, path: str, **kw: Any) -> Any:
    return client.request(method, path, headers=keys.header(keys.admin), **kw).json()


def test_an_rfm_cell_drills_down_to_its_customers_and_becomes_a_segment(
    stack: Stack,
    shops: Shops,
    base_url: str,
    browser: Any,
    segmenter_client: TestClient,
    tmp_path: Path,
) -> None:
    """Given acme's marketer signed in
    When they open the RFM grid, choose its fullest cell, and save it as a segment
    Then the grid holds every scored customer in colour, the cell lists exactly the
    customers the rule matches, and the saved segment has those members."""
    console = Console(browser, base_url)
    console.sign_in(shops.acme_marketer)
    page = console.page
    console.go("#/rfm", "rfm")
    grid = _api(segmenter_client, shops.acme, "GET", "/v1/segments/rfm-grid")
    cells = page.locator("#rfm-grid td button")
    assert cells.count() == 25
    shown = sum(int(b.inner_text().split("\n")[0].replace(",", "")) for b in cells.all())
    assert shown == sum(c["customers"] for c in grid["cells"]) == 90 - grid["unscored"]
    png = console.screenshot("console-rfm.png", tmp_path)
    box = page.locator("#rfm-grid").bounding_box()
    assert box is not None
    blue = sum(n for (r, g, b), n in coloured_pixels(png, box).items() if b > r + 40)
    assert blue > 0.3 * box["width"] * box["height"]

    # When they choose the fullest cell
    fullest = max(grid["cells"], key=lambda c: c["customers"])
    r, f = fullest["r"], fullest["f"]
    page.locator(f"#rfm-grid button[data-r='{r}'][data-f='{f}']").press("Enter")
    page.wait_for_selector("#drill-customers")
    title = page.locator("#drill-title").inner_text()
    assert title == f"R{r} × F{f} の顧客 {fullest['customers']}人"
    listed = page.locator("#drill-customers a").all_inner_texts()
    rule = {
        "all": [
            {"field": "r_score", "op": "eq", "value": r},
            {"field": "f_score", "op": "eq", "value": f},
        ]
    }
    preview = _api(
        segmenter_client,
        shops.acme,
        "POST",
        "/v1/segments/preview",
        json={"rule": rule, "sample": 500},
    )
    assert (
        sorted(listed) == sorted(preview["sample_customer_ids"])
        and len(listed) == fullest["customers"]
    )

    # And save them as a segment
    page.click("#save-segment")
    page.wait_for_selector("#save-status.ok")
    assert f"rfm-r{r}-f{f}" in page.locator("#save-status").inner_text()
    # (counted by the segmenter's event function once the bus brings it the request; the
    # page shows the count when it is ready)
    assert "集計" in page.locator("#save-status").inner_text()
    stack.cloud.deliver("SegmenterEventsFunction")
    page.wait_for_selector("#save-status[data-counted=true]")
    assert f"({len(listed)}人)" in page.locator("#save-status").inner_text()
    members = _api(segmenter_client, shops.acme, "GET", f"/v1/segments/rfm-r{r}-f{f}/members")
    assert sorted(members["customer_ids"]) == sorted(listed)
    page.click("#save-segment")
    page.wait_for_selector("#save-status.error")
    assert "すでにあります" in page.locator("#save-status").inner_text()

    # When they open one of the customers
    page.locator("#drill-customers a").first.click()
    page.wait_for_selector("main[data-view=customers][data-ready=true] #profile")
    customer = listed[0] if page.url.endswith(listed[0]) else page.url.rsplit("/", 1)[1]
    orders = _api(segmenter_client, shops.acme, "GET", f"/v1/customers/{customer}/orders")
    assert page.locator("#orders tbody tr").count() == len(orders)
    assert f"rfm-r{r}-f{f}" in page.locator("#profile").inner_text()
    console.screenshot("console-customer.png", tmp_path)
    assert console.errors == []
    assert console.other_hosts() == []


def test_the_language_toggle_changes_every_label(shops: Shops, base_url: str, browser: Any) -> None:
    """Given the console in Japanese (the default)
    When the marketer switches to English on each page
    Then no Japanese is left on it (labels, dates, units, the chart's legend), and the
    choice is kept."""
    console = Console(browser, base_url)
    console.sign_in(shops.acme_marketer)
    page = console.page
    for hash_, view in (
        ("#/overview", "overview"),
        ("#/rfm/1/1", "rfm"),
        ("#/customers", "customers"),
    ):
        console.go(hash_, view)
        assert page.locator("html").get_attribute("lang") == "ja"
        assert CJK.search(page.locator("body").inner_text())
        page.click("#lang")
        page.wait_for_selector(f"html[lang=en] main[data-view={view}][data-ready=true]")
        # every label but the brand (Kizuna 絆) and the toggle back, named in its own language
        english = page.evaluate(
            """() => ['main', '#nav', '#shop', '#signout', 'title']
                .map(s => document.querySelector(s).textContent).join(' ')"""
        )
        assert not CJK.search(english), CJK.findall(english)[:10]
        if view == "overview":
            assert "November 23, 2026" in english
        page.click("#lang")
        page.wait_for_selector(f"html[lang=ja] main[data-view={view}][data-ready=true]")
    page.click("#lang")
    page.reload()
    page.wait_for_selector("html[lang=en] main[data-ready=true]")
    assert page.locator("#nav a[data-view=rfm]").inner_text() == "RFM"
    assert console.other_hosts() == []


def test_another_shops_key_sees_nothing_of_this_one(
    shops: Shops, base_url: str, browser: Any, segmenter_client: TestClient
) -> None:
    """Given shop `other`'s reader key
    When it signs in and looks for acme's figures and customers
    Then it sees only its own 12 customers, and acme's customer is not found; and the
    pages fit a phone's width."""
    console = Console(browser, base_url)
    console.sign_in(shops.other.reader)
    page = console.page
    own = _api(segmenter_client, shops.other, "GET", "/v1/analytics/list-analysis")["rows"][-1]
    assert page.locator("#kpi-customers .value").inner_text() == str(own["total"])
    console.go("#/rfm", "rfm")
    shown = sum(
        int(b.inner_text().split("\n")[0]) for b in page.locator("#rfm-grid td button").all()
    )
    grid = _api(segmenter_client, shops.other, "GET", "/v1/segments/rfm-grid")
    assert shown == 12 - grid["unscored"]
    console.go("#/customers", "customers")
    ids = page.locator("#customer-list tbody th").all_inner_texts()
    assert ids and all(i.startswith("z-") for i in ids)
    console.go("#/customers/c-001", "customers")
    assert page.locator("#not-found").is_visible()

    # And on a phone each page fits the screen's width (wide tables scroll in their card)
    page.set_viewport_size(PHONE)
    for hash_, view in (("#/overview", "overview"), ("#/rfm", "rfm"), ("#/customers", "customers")):
        console.go(hash_, view)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], view
    assert console.other_hosts() == []


def test_a_read_only_key_cannot_change_anything(
    shops: Shops, base_url: str, browser: Any, segmenter_client: TestClient
) -> None:
    """Given acme's read-only key signed in
    Then the page offers no change, and a change forced from the page (cookie and CSRF
    token and all) is refused by the API, with nothing stored."""
    console = Console(browser, base_url)
    console.sign_in(shops.acme.reader)
    page = console.page
    assert "閲覧のみ" in page.locator("#shop").inner_text()
    console.go("#/rfm/1/1", "rfm")
    assert page.locator("#save-segment").count() == 0
    assert page.locator("#readonly-note").is_visible()
    statuses = page.evaluate(
        """async () => {
            const csrf = document.cookie.split('; ')
                .find(c => c.startsWith('__Host-kizuna-csrf=')).split('=')[1];
            const send = (method, path, body) => fetch(path, {method, credentials: 'same-origin',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                body: body && JSON.stringify(body)}).then(r => r.status);
            return [
                await send('POST', '/v1/segments', {segment_id: 'x', name: 'x', rule: {all: []}}),
                await send('PUT', '/v1/segments/rfm-config', {method: 'quantile'}),
                await send('POST', '/v1/analytics/refresh'),
                await send('DELETE', '/v1/segments/rfm_loyal'),
            ];
        }"""
    )
    assert statuses == [403, 403, 403, 403]
    segments = segmenter_client.get("/v1/segments", headers=shops.acme.header(shops.acme.reader))
    assert "x" not in {s["segment_id"] for s in segments.json()}
    assert console.other_hosts() == []
