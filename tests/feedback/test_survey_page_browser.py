"""The hosted survey page in headless Chromium, over real HTTP (uvicorn on 127.0.0.1):
a customer opens their signed link on a phone, is told what is missing, answers, and the
answers become a `survey.answered` event; the link then shows 'already answered'."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from feedback.bootstrap import FeedbackContainer
from shared.clock import FixedClock as Clock
from tests.browser import PHONE, chromium, needs_chromium, served
from tests.feedback.conftest import SURVEY, FeedbackKeys, RecordingPublisher

pytestmark = needs_chromium


@pytest.fixture
def base_url(fb: FeedbackContainer) -> Iterator[str]:
    """The feedback app served by uvicorn in a thread, on a free local port."""
    from feedback.entrypoints.api import app

    with served(app) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_customer_answers_on_a_phone(
    api: TestClient,
    keys: FeedbackKeys,
    published: RecordingPublisher,
    clock: Clock,
    base_url: str,
    browser: Any,
    tmp_path: Path,
) -> None:
    # Given a survey and a signed link for customer c-1, as a message would carry it
    assert api.post("/v1/surveys", json=SURVEY, headers=keys.admin).status_code == 201
    link = api.post(
        "/v1/surveys/why-bought/links", json={"customer_id": "c-1"}, headers=keys.storefront
    )
    assert link.status_code == 201, link.text
    url = link.json()["url"].replace("https://kizuna.test", base_url)
    other = api.post(
        "/v1/surveys/why-bought/links", json={"customer_id": "c-2"}, headers=keys.storefront
    )
    other_url = other.json()["url"].replace("https://kizuna.test", base_url)
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="ja-JP"
    )
    page = context.new_page()

    # When the customer opens it on a phone
    response = page.goto(url)
    # Then the page is in Japanese, fits the screen, and every choice is a big tap target
    assert response is not None and response.status == 200
    assert page.locator("html").get_attribute("lang") == "ja"
    assert page.locator("h1").inner_text() == "ご購入のきっかけ"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    for target in page.locator(".choice, .scale span, button").all():
        box = target.bounding_box()
        assert box is not None and box["height"] >= 44, box

    # When they send it without answering the required questions
    page.locator("button[type=submit]").tap()
    # Then the page says which question is missing, and nothing is stored
    assert page.locator("#q-q1 .error").inner_text() == "この質問にお答えください。"
    assert page.locator("#q-q1").get_attribute("class") == "invalid"
    assert published.of_type("survey.answered") == []

    # When they answer: a gift, dislikes fragrance, rating 4, NPS 9, a comment
    page.get_by_text("ギフト", exact=True).tap()
    page.get_by_text("香料", exact=True).tap()
    page.locator("#q-q3 label", has_text="4").tap()
    page.locator("#q-q4 label", has_text="9").tap()
    page.locator("#q-q5 textarea").fill("香りが控えめだと嬉しいです")
    screenshot = tmp_path / "survey-phone.png"
    page.screenshot(path=str(screenshot), full_page=True)
    if os.environ.get("KIZUNA_SCREENSHOT_DIR"):
        shutil.copy(screenshot, Path(os.environ["KIZUNA_SCREENSHOT_DIR"]) / screenshot.name)
    page.locator("button[type=submit]").tap()

    # Then they are thanked, and the answers became preferences on `survey.answered`
    assert page.locator("#notice").get_attribute("data-state") == "answered"
    [event] = published.of_type("survey.answered")
    assert event.detail["customer_id"] == "c-1"
    assert event.detail["preferences"] == {"dislike": ["fragrance"], "motive": ["gift"]}
    results = api.get("/v1/surveys/why-bought/results", headers=keys.reader).json()["total"]
    nps = next(q for q in results["questions"] if q["question_id"] == "q4")
    assert nps["counts"]["9"] == 1

    # When they open the link again, it says they already answered (one response per link)
    page.goto(url)
    assert page.locator("#notice").get_attribute("data-state") == "answered"

    # And an altered link is refused
    tampered = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    assert page.goto(tampered).status == 400
    assert page.locator("#notice").get_attribute("data-state") == "invalid"

    # When another customer opens their link after its 30 days
    clock.advance(days=31)
    expired = page.goto(other_url)
    # Then the page says the link has expired, with nothing to fill in
    assert expired is not None and expired.status == 410
    assert page.locator("#notice").get_attribute("data-state") == "expired"
    assert page.locator("h1").inner_text() == "有効期限切れ"
    assert page.locator("form").count() == 0
    context.close()
