"""Drill-downs of the feedback figures: the respondents behind a survey's NPS group or an
answer's count, and the customers behind a SKU's sign-ups and a release's notified /
clicked figures. Each listing is checked against the figure the results show and
against the customers computed here from what the test itself submitted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.clock import FixedClock as Clock
from tests.feedback.conftest import SURVEY, FeedbackKeys, RecordingPublisher, answers
from tests.feedback.test_restock import _signup, _sku, _stock

NPS = {"r-1": ("c-1", 10), "r-2": ("c-2", 7), "r-3": ("c-3", 3), "r-4": ("c-4", 0)}
"""response id → (customer, NPS score) the survey test submits; c-3 answers again below."""


def _survey_with_answers(api: TestClient, keys: FeedbackKeys, clock: Clock) -> dict[str, Any]:
    """Every response submitted, by response id: (customer, answers)."""
    assert api.post("/v1/surveys", json=SURVEY, headers=keys.admin).status_code == 201
    sent: dict[str, Any] = {}
    for response_id, (customer, score) in NPS.items():
        sent[response_id] = (
            customer,
            answers(q4=score, q1="self", q2=["alcohol"])
            if customer == "c-2"
            else answers(q4=score, q1="gift"),
        )
    sent["r-5"] = ("c-3", answers(q4=8, q1="self"))  # a day later, c-3 answers again: passive
    for response_id, (customer, body) in sent.items():
        if response_id == "r-5":
            clock.advance(days=1)
        payload = {"response_id": response_id, "customer_id": customer, "answers": body}
        posted = api.post("/v1/surveys/why-bought/responses", json=payload, headers=keys.storefront)
        assert posted.status_code == 201, posted.text
    return sent


def _all_respondents(
    api: TestClient, keys: FeedbackKeys, limit: int = 1, **params: Any
) -> tuple[dict[str, Any], list[str]]:
    """The first page's body and every id over all pages, `limit` at a time."""
    ids: list[str] = []
    first: dict[str, Any] | None = None
    cursor = None
    while True:
        query = {"limit": limit, **params} | ({"cursor": cursor} if cursor else {})
        page = api.get("/v1/surveys/why-bought/respondents", params=query, headers=keys.reader)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["customer_ids"]) <= limit
        first = first or body
        ids += body["customer_ids"]
        cursor = body["next_cursor"]
        if not cursor:
            return first, ids


def test_nps_groups_and_answers_drill_down_to_their_respondents(
    api: TestClient, keys: FeedbackKeys, clock: Clock
) -> None:
    # Given four customers' NPS answers, c-3 answering twice (3 and 5: a detractor twice)
    sent = _survey_with_answers(api, keys, clock)
    results = api.get("/v1/surveys/why-bought/results", headers=keys.reader).json()
    questions = {q["question_id"]: q for q in results["total"]["questions"]}

    # When the marketer drills into each NPS group, a page of one id at a time
    for group in ("promoters", "passives", "detractors"):
        body, ids = _all_respondents(api, keys, group=group)
        # Then the group's figure is the results' and the ids are whom the test made so
        expected = sorted(
            {
                c
                for c, a in sent.values()
                if (a["q4"] >= 9 and group == "promoters")
                or (7 <= a["q4"] <= 8 and group == "passives")
                or (a["q4"] <= 6 and group == "detractors")
            }
        )
        assert body["responses"] == questions["q4"]["nps"][group]
        assert ids == expected
        assert body["count"] == len(expected)
        assert body["question_id"] == "q4"
    # And c-3 is both a detractor (first answer) and a passive (second)
    _, passives = _all_respondents(api, keys, group="passives")
    assert passives == ["c-2", "c-3"]

    # When the marketer drills into each answer of the choice question
    for option, figure in questions["q1"]["counts"].items():
        body, ids = _all_respondents(api, keys, limit=100, question_id="q1", answer=option)
        # Then its count is the results' and its customers those who chose it
        assert body["responses"] == figure
        assert ids == sorted({c for c, a in sent.values() if a["q1"] == option})
    # And a multiple-choice option, and a score of the NPS question, list theirs too
    _, fragrance = _all_respondents(api, keys, question_id="q2", answer="fragrance")
    assert fragrance == sorted({c for c, a in sent.values() if "fragrance" in a["q2"]})
    assert "c-2" not in fragrance
    _, zero = _all_respondents(api, keys, question_id="q4", answer="0")
    assert zero == ["c-4"]
    # And with nothing named, every respondent of the survey
    everyone, ids = _all_respondents(api, keys, limit=2)
    assert (everyone["responses"], ids) == (5, ["c-1", "c-2", "c-3", "c-4"])
    # And the results' filters apply alike: before c-3's second answer, c-3 was no passive
    window = {"until": (clock.now - timedelta(hours=1)).isoformat()}
    early_results = api.get("/v1/surveys/why-bought/results", params=window, headers=keys.reader)
    early_q4 = next(
        q for q in early_results.json()["total"]["questions"] if q["question_id"] == "q4"
    )
    early, ids = _all_respondents(api, keys, group="passives", until=window["until"])
    assert (early["responses"], ids) == (early_q4["nps"]["passives"], ["c-2"])


def test_bad_respondent_queries_name_the_parameter(
    api: TestClient, keys: FeedbackKeys, other_keys: FeedbackKeys, clock: Clock
) -> None:
    # Given a survey with answers
    _survey_with_answers(api, keys, clock)
    url = "/v1/surveys/why-bought/respondents"
    # Then each bad parameter is a 422 naming it
    for params, field in (
        ({"group": "fans"}, "group"),
        ({"question_id": "q9"}, "question_id"),
        ({"question_id": "q1", "group": "promoters"}, "group"),
        ({"question_id": "q1", "answer": "nobody"}, "answer"),
        ({"question_id": "q5", "answer": "x"}, "answer"),
        ({"group": "promoters", "answer": "10"}, "answer"),
        ({"cursor": "c-1"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"since": "2026-11-01T00:00:00"}, "since"),
    ):
        bad = api.get(url, params=params, headers=keys.reader)
        assert bad.status_code == 422, (params, bad.text)
        assert bad.json()["error"]["fields"][0]["field"] == field
    # And an unknown survey is a 404
    assert api.get("/v1/surveys/nope/respondents", headers=keys.reader).status_code == 404
    # And a storefront key may not read who answered, nor another shop's reader see it
    assert api.get(url, headers=keys.storefront).status_code == 403
    assert api.get(url, headers=other_keys.reader).status_code == 404


def _all_signed(
    api: TestClient, keys: FeedbackKeys, **params: Any
) -> tuple[dict[str, Any], list[str]]:
    ids: list[str] = []
    first: dict[str, Any] | None = None
    cursor = None
    while True:
        query = {"sku": "SERUM-30", "limit": 2, **params} | ({"cursor": cursor} if cursor else {})
        page = api.get("/v1/restock/customers", params=query, headers=keys.reader)
        assert page.status_code == 200, page.text
        first = first or page.json()
        ids += page.json()["customer_ids"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return first, ids


def test_sign_up_and_release_figures_drill_down_to_their_customers(
    api: TestClient, keys: FeedbackKeys, clock: Clock, published: RecordingPublisher
) -> None:
    # Given five known customers signed up (c-1 on two channels) and an anonymous email
    known = ["c-0", "c-1", "c-2", "c-3", "c-4"]
    for customer in known:
        assert _signup(api, keys, customer_id=customer).status_code == 201
        clock.advance(seconds=1)
    assert _signup(api, keys, customer_id="c-1", channel="line").status_code == 201
    assert _signup(api, keys, email="anon@example.jp").status_code == 201
    # And the SKU back in stock with 1 item (factor 2: the first wave tells 2 sign-ups)
    _stock(clock, "inv-0", 5, 0)
    _stock(clock, "inv-1", 0, 1)
    overview = _sku(api, keys)
    told = sorted(m["recipient"]["customer_id"] for m in published.messages("restock_early_access"))

    # When the marketer drills into each status count and into all sign-ups
    for status, figure in overview["signups"].items():
        body, ids = _all_signed(api, keys, status=status)
        # Then the figure is the SKU's and the customers are the known ones signed up so
        assert body["signups"] == figure
        assert ids == (known if status == "active" else [])
        assert body["count"] == len(ids)
    everyone, ids = _all_signed(api, keys)
    assert (everyone["signups"], everyone["count"], ids) == (7, 5, known)

    # When the marketer drills into the release's notified figure
    release = overview["releases"][0]
    body, ids = _all_signed(api, keys, release_id=release["release_id"])
    # Then it lists the customers the early-access messages were asked for
    assert body["signups"] == release["notified"] == 2
    assert ids == told
    clicked, nobody = _all_signed(api, keys, release_id=release["release_id"], outcome="clicked")
    assert (clicked["signups"], nobody) == (release["clicked"], [])


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({}, 422, "sku"),
        ({"sku": "SERUM-30", "status": "gone"}, 422, "status"),
        ({"sku": "SERUM-30", "outcome": "opened", "release_id": "r"}, 422, "outcome"),
        ({"sku": "SERUM-30", "status": "active", "release_id": "r"}, 422, "status"),
        ({"sku": "NEVER-SIGNED"}, 404, "sku"),
        ({"sku": "SERUM-30", "release_id": "rel-none"}, 404, "release_id"),
    ],
)
def test_bad_restock_drill_downs_name_the_parameter(
    api: TestClient,
    keys: FeedbackKeys,
    params: dict[str, Any],
    status: int,
    field: str,
) -> None:
    # Given one sign-up for SERUM-30
    assert _signup(api, keys, customer_id="c-1").status_code == 201
    # When a drill-down names something wrong or unknown
    response = api.get("/v1/restock/customers", params=params, headers=keys.reader)
    # Then the answer says which parameter
    assert response.status_code == status, response.text
    assert response.json()["error"]["fields"][0]["field"] == field
    # And the storefront key may not list who signed up
    listed = api.get("/v1/restock/customers?sku=SERUM-30", headers=keys.storefront)
    assert listed.status_code == 403
