"""The surveys, restock and overview figures lead to the customers behind them, in
headless Chromium over real HTTP (every function behind the local stack's dispatcher, on
in-process moto): the NPS detractors of a survey are followed with the keyboard, listed
and saved as a segment whose members are exactly them; a SKU's sign-ups and the
overview's active customers list theirs. Each listing is checked against what the test
itself submitted, and against the figure the page showed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.browser import needs_chromium
from tests.console.browser import Console
from tests.console.conftest import Stack

pytestmark = needs_chromium

SURVEY = {
    "survey_id": "after-purchase",
    "title": "購入後アンケート",
    "questions": [
        {"id": "recommend", "kind": "nps", "text": "友人にすすめたいですか?"},
        {
            "id": "why",
            "kind": "single",
            "text": "決め手は?",
            "options": [{"id": "price", "label": "価格"}, {"id": "review", "label": "口コミ"}],
        },
    ],
}
ANSWERS = [
    ("r-0", "c-000", 10, "price"),
    ("r-1", "c-001", 9, "review"),
    ("r-2", "c-002", 8, "price"),
    ("r-3", "c-003", 3, "price"),
    ("r-4", "c-004", 0, "review"),
    ("r-5", "c-005", 6, "review"),
    ("r-6", "c-003", 5, "review"),  # c-003 answers a second invitation
]
"""(response, customer, NPS score, reason) the test submits."""


@pytest.fixture
def admin(stack: Stack, browser: Any) -> Iterator[Console]:
    """acme's admin key (feedback:read and segments:write among its scopes), signed in."""
    console = Console(browser, stack.base_url)
    console.sign_in(stack.shops.acme.admin)
    yield console
    assert console.errors == []
    assert console.other_hosts() == []
    console.close()


def _feedback(stack: Stack) -> tuple[TestClient, dict[str, str]]:
    from feedback.entrypoints.api import app as feedback_app

    keys = stack.shops.acme
    return TestClient(feedback_app), keys.header(keys.admin)


def _title(page: Any) -> tuple[int, int]:
    """(customers, figure) the drill-down's title states: "…: 3人（回答 4件）"."""
    page.wait_for_selector("main[data-view=drill][data-ready=true] #drill-title")
    found = re.search(
        r": ([\d,]+)人（(?:回答|登録) ([\d,]+)件）$", page.locator("#drill-title").inner_text()
    )
    assert found, page.locator("#drill-title").inner_text()
    return int(found[1].replace(",", "")), int(found[2].replace(",", ""))


def _listed(page: Any) -> list[str]:
    page.wait_for_selector("main[data-view=drill][data-ready=true] #drill-customers")
    texts: list[str] = page.locator("#drill-customers a").all_inner_texts()
    return texts


def test_the_nps_detractors_are_followed_by_keyboard_listed_and_saved_as_a_segment(
    stack: Stack, admin: Console
) -> None:
    """Given a survey answered 7 times by 6 customers (c-003 twice, a detractor both times)
    When the admin tabs to the NPS detractors' count on the surveys page and presses Enter,
    then saves the customers listed as a segment
    Then the page shows the results' detractor figure (4 responses) and lists the 3
    customers who gave them; the segment's members are exactly those 3."""
    feedback, admin_key = _feedback(stack)
    assert feedback.post("/v1/surveys", json=SURVEY, headers=admin_key).status_code == 201
    for response_id, customer, score, why in ANSWERS:
        body = {
            "response_id": response_id,
            "customer_id": customer,
            "answers": {"recommend": score, "why": why},
        }
        posted = feedback.post("/v1/surveys/after-purchase/responses", json=body, headers=admin_key)
        assert posted.status_code == 201, posted.text
    detractors = sorted({c for _, c, score, _ in ANSWERS if score <= 6})
    figure = sum(1 for *_, score, _ in ANSWERS if score <= 6)
    assert (detractors, figure) == (["c-003", "c-004", "c-005"], 4)

    page = admin.page
    admin.go("#/surveys", "surveys")
    split = page.locator("section[data-survey=after-purchase] .nps-split")
    link = split.locator("a[data-drill='nps:after-purchase.recommend.detractors']")
    assert link.inner_text() == str(figure)
    link.focus()
    page.keyboard.press("Enter")
    assert _title(page) == (len(detractors), figure)
    assert _listed(page) == detractors

    page.click("#save-segment")
    page.wait_for_selector("#save-status.ok, #save-status.error")
    status = page.locator("#save-status")
    assert status.get_attribute("class") == "ok", status.inner_text()
    stack.cloud.deliver("SegmenterEventsFunction")  # the segmenter tags and counts them
    page.wait_for_selector("#save-status[data-counted=true]")
    segment_id = "nps-after-purchase-recommend-detractors"
    keys = stack.shops.acme
    members = stack.segmenter.get(
        f"/v1/segments/{segment_id}/members", headers=keys.header(keys.reader)
    ).json()["customer_ids"]
    assert sorted(members) == detractors
    assert f"({len(detractors)}人)" in status.inner_text()

    # And an answer's count leads to those who chose it
    admin.go("#/surveys", "surveys")
    page.locator("[data-question=why] a[data-drill='answer:after-purchase.why.review']").click()
    review = sorted({c for _, c, _, why in ANSWERS if why == "review"})
    assert _title(page) == (len(review), sum(1 for *_, why in ANSWERS if why == "review"))
    assert _listed(page) == review


def test_a_skus_sign_ups_and_the_overviews_active_customers_lead_to_them(
    stack: Stack, admin: Console
) -> None:
    """Given three known customers and an anonymous email signed up for SERUM-30
    When the admin follows the SKU's active sign-ups, then the overview's active customers
    Then the first lists the three customers (of 3 active sign-ups), the second as many
    customers as the tile shows, the ones the list analysis' cell names; the F2 tile's
    repeat buyers lead to as many customers as the funnel's F1 → F2 counts."""
    feedback, admin_key = _feedback(stack)
    for customer in ("c-010", "c-011", "c-012"):
        body = {"sku": "SERUM-30", "channel": "email", "customer_id": customer}
        posted = feedback.post("/v1/restock/signups", json=body, headers=admin_key)
        assert posted.status_code in (200, 201), posted.text
    body = {"sku": "SERUM-30", "channel": "email", "email": "anon@example.jp"}
    assert feedback.post("/v1/restock/signups", json=body, headers=admin_key).is_success
    overview = feedback.get("/v1/restock/skus/SERUM-30", headers=admin_key).json()
    active = overview["signups"]["active"]

    page = admin.page
    admin.go("#/surveys/SERUM-30", "surveys")
    page.locator("#restock-signups a[data-drill='signup:active.SERUM-30']").click()
    customers, figure = _title(page)
    signed = feedback.get(
        "/v1/restock/customers",
        params={"sku": "SERUM-30", "status": "active", "limit": 1000},
        headers=admin_key,
    ).json()["customer_ids"]
    assert signed == ["c-010", "c-011", "c-012"]  # the anonymous address is nobody's id
    assert (customers, figure) == (3, active) == (3, 3)
    assert _listed(page) == signed

    admin.go("#/overview", "overview")
    tile = page.locator("#kpi-active .value a")
    shown = int(tile.inner_text().replace(",", ""))
    tile.click()
    page.wait_for_selector("main[data-view=drill][data-ready=true] #drill-customers")
    keys = stack.shops.acme
    last = stack.segmenter.get(
        "/v1/analytics/list-analysis", headers=keys.header(keys.reader)
    ).json()["rows"][-1]
    cell = stack.segmenter.get(
        "/v1/analytics/list-analysis/customers",
        params={"month": last["month"], "state": "active", "limit": 500},
        headers=keys.header(keys.reader),
    ).json()
    assert shown == last["new"] + last["repeat"] + last["loyal"] == cell["count"]
    assert _listed(page) == cell["customer_ids"]
    title = page.locator("#drill-title").inner_text()
    assert int(title.rsplit(": ", 1)[1].rstrip("人").replace(",", "")) == shown

    # And the F2 tile's repeat buyers (F1 → F2's customers_to) lead to as many customers
    repeat = stack.segmenter.get("/v1/analytics/repeat", headers=keys.header(keys.reader)).json()[
        "rows"
    ]
    f2 = next(r for r in repeat if r["from_stage"] == "F1")
    admin.go("#/overview", "overview")
    repeaters = page.locator("#kpi-f2 .below a[data-drill='reached:2']")
    assert f"{f2['customers_to']:,}" in repeaters.inner_text()
    repeaters.press("Enter")
    page.wait_for_selector("main[data-view=drill][data-ready=true] #drill-title")
    title = page.locator("#drill-title").inner_text()
    assert int(title.rsplit(": ", 1)[1].rstrip("人").replace(",", "")) == f2["customers_to"]
