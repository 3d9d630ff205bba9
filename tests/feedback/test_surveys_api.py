"""Surveys over HTTP: definition and versions, responses validated against their version,
idempotent resubmission, `survey.answered` consumed by the segmenter, results over time
and by segment, signed survey links and invitations; score ranges mapped to preferences,
question kinds kept across versions, and transactions that meet a concurrent write."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from feedback.bootstrap import FeedbackContainer
from shared.clock import FixedClock as Clock
from shared.contracts.catalog import parse_detail
from shared.contracts.details import MessageRequested
from shared.contracts.envelope import EventEnvelope
from tests.conftest import ShopKeys, order_payload
from tests.feedback.conftest import (
    SURVEY,
    DynamoHooks,
    FeedbackKeys,
    RecordingPublisher,
    answers,
)


def _define(api: TestClient, keys: FeedbackKeys, body: dict[str, Any] | None = None) -> Any:
    response = api.post("/v1/surveys", json=body or SURVEY, headers=keys.admin)
    assert response.status_code == 201, response.text
    return response.json()


def _answer(
    api: TestClient, keys: FeedbackKeys, response_id: str, customer_id: str = "c-1", **body: Any
) -> Any:
    payload = {"response_id": response_id, "customer_id": customer_id, "answers": answers()}
    payload.update(body)
    return api.post("/v1/surveys/why-bought/responses", json=payload, headers=keys.storefront)


def _results(api: TestClient, keys: FeedbackKeys, **params: Any) -> Any:
    response = api.get("/v1/surveys/why-bought/results", params=params, headers=keys.reader)
    assert response.status_code == 200, response.text
    return response.json()


def _question(results: dict[str, Any], question_id: str) -> dict[str, Any]:
    return next(q for q in results["questions"] if q["question_id"] == question_id)


def test_define_read_and_scopes(api: TestClient, keys: FeedbackKeys) -> None:
    # When the shop's admin defines a survey
    created = _define(api, keys)
    # Then it is version 1, with the answer → preference mapping per option
    assert created["version"] == 1
    gift = created["questions"][0]["options"][1]
    assert gift == {"id": "gift", "label": "ギフト", "preferences": {"motive": ["gift"]}}
    # And a storefront key can read it (to render its own form) but not define surveys
    assert api.get("/v1/surveys/why-bought", headers=keys.storefront).status_code == 200
    assert api.get("/v1/surveys", headers=keys.reader).json()[0]["latest_version"] == 1
    assert api.post("/v1/surveys", json=SURVEY, headers=keys.storefront).status_code == 403
    # And the same id cannot be defined twice
    again = api.post("/v1/surveys", json=SURVEY, headers=keys.admin)
    assert again.status_code == 409
    # And a BI key (feedback:read) cannot answer
    denied = api.post(
        "/v1/surveys/why-bought/responses",
        json={"response_id": "r", "customer_id": "c", "answers": answers()},
        headers=keys.reader,
    )
    assert denied.status_code == 403


def test_keys_of_another_shop_see_nothing(
    api: TestClient, keys: FeedbackKeys, other_keys: FeedbackKeys
) -> None:
    # Given a survey of shop acme, with a response
    _define(api, keys)
    assert _answer(api, keys, "r-1").status_code == 201
    # Then another shop's keys neither read it, its results, nor answer it
    assert api.get("/v1/surveys/why-bought", headers=other_keys.reader).status_code == 404
    results = api.get("/v1/surveys/why-bought/results", headers=other_keys.reader)
    assert results.status_code == 404
    response = _answer(api, other_keys, "r-1")
    assert response.status_code == 404
    assert response.json()["error"]["fields"][0]["field"] == "survey_id"
    # And a survey of the same id of its own counts only its own responses
    _define(api, other_keys)
    assert _results(api, other_keys)["total"]["responses"] == 0
    assert _answer(api, other_keys, "r-1").status_code == 201
    assert _results(api, keys)["total"]["responses"] == 1


def test_editing_creates_a_version_and_responses_keep_theirs(
    api: TestClient, keys: FeedbackKeys
) -> None:
    # Given version 1 and a response to it
    _define(api, keys)
    assert _answer(api, keys, "r-1").status_code == 201
    # When the survey is edited (an option added)
    edited = copy.deepcopy(SURVEY)
    del edited["survey_id"]
    edited["questions"][0]["options"].append(
        {"id": "family", "label": "家族用", "preferences": {"motive": "family"}}
    )
    response = api.put("/v1/surveys/why-bought", json=edited, headers=keys.admin)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    # Then version 1 is still readable as it was
    v1 = api.get("/v1/surveys/why-bought", params={"version": 1}, headers=keys.reader).json()
    assert [o["id"] for o in v1["questions"][0]["options"]] == ["self", "gift"]
    # And the new option is valid for v2 but not for v1
    new = _answer(api, keys, "r-2", answers=answers(q1="family"))
    assert new.status_code == 201
    assert new.json()["survey_version"] == 2
    old = _answer(api, keys, "r-3", answers=answers(q1="family"), survey_version=1)
    assert old.status_code == 422
    # And results per version count each response once, in its own version
    assert _results(api, keys, version=1)["total"]["responses"] == 1
    total = _results(api, keys)["total"]
    assert total["responses"] == 2
    assert _question(total, "q1")["counts"] == {"self": 0, "gift": 1, "family": 1}


def test_response_publishes_preferences_that_the_segmenter_uses(
    api: TestClient,
    keys: FeedbackKeys,
    shop: ShopKeys,
    published: RecordingPublisher,
    segmenter_client: TestClient,
) -> None:
    # Given a customer the segmenter knows, and a survey
    order = order_payload(1, customer_id="c-1")
    created = segmenter_client.post("/v1/orders", json=order, headers=shop.header(shop.events))
    assert created.status_code == 201, created.text
    _define(api, keys)

    # When the customer answers "gift" and dislikes fragrance
    response = _answer(api, keys, "r-1", answers=answers(q2=["fragrance", "alcohol"]))

    # Then the response is accepted with the mapped preferences
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "accepted"
    assert body["preferences"] == {"dislike": ["alcohol", "fragrance"], "motive": ["gift"]}
    # And `survey.answered` is published with them, valid against its contract
    [event] = published.of_type("survey.answered")
    assert event.shop == "acme"
    detail = parse_detail(event)
    assert detail.model_dump() == {
        "survey_id": "why-bought",
        "survey_version": 1,
        "response_id": "r-1",
        "customer_id": "c-1",
        "preferences": {"dislike": ["alcohol", "fragrance"], "motive": ["gift"]},
    }

    # When the segmenter's rule delivers it to the segmenter's handler
    from segmenter.entrypoints import events as segmenter_events

    segmenter_events.handler({"detail": event.model_dump(mode="json")}, None)

    # Then the profile carries the preferences, and a segment rule over them matches
    profile = segmenter_client.get("/v1/customers/c-1", headers=shop.header(shop.reader)).json()
    assert profile["preferences"]["dislike"] == ["alcohol", "fragrance"]
    preview = segmenter_client.post(
        "/v1/segments/preview",
        json={"rule": {"preference": "dislike", "includes": "fragrance"}},
        headers=shop.header(shop.admin),
    )
    assert preview.json()["count"] == 1


def test_resubmitting_the_same_response_changes_nothing(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher
) -> None:
    # Given an accepted response
    _define(api, keys)
    assert _answer(api, keys, "r-1").status_code == 201
    # When the storefront sends it again (a retry)
    again = _answer(api, keys, "r-1")
    # Then it is a duplicate: nothing more is counted; the event keeps its id
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert _results(api, keys)["total"]["responses"] == 1
    ids = {e.id for e in published.of_type("survey.answered")}
    assert len(ids) == 1
    # And the same id with other answers is refused, naming the field
    other = _answer(api, keys, "r-1", answers=answers(q1="self"))
    assert other.status_code == 409
    assert other.json()["error"]["fields"][0]["field"] == "response_id"
    assert _question(_results(api, keys)["total"], "q1")["counts"]["self"] == 0


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"q9": "x"}, "answers.q9", "has no question"),
        ({"q1": "family"}, "answers.q1", "not one of the options"),
        ({"q2": ["fragrance", "perfume"]}, "answers.q2", "not one of the options"),
        ({"q2": "fragrance"}, "answers.q2", "list of option ids"),
        ({"q4": 11}, "answers.q4", "outside 0-10"),
        ({"q4": -1}, "answers.q4", "outside 0-10"),
        ({"q4": "9"}, "answers.q4", "whole number"),
        ({"q3": 0}, "answers.q3", "outside 1-5"),
        ({"q3": True}, "answers.q3", "whole number"),
        ({"q1": None}, "answers.q1", "must be answered"),
        ({"q5": "あ" * 2001}, "answers.q5", "at most 2000"),
    ],
)
def test_bad_answers_are_refused_naming_the_field_and_nothing_is_stored(
    api: TestClient,
    keys: FeedbackKeys,
    published: RecordingPublisher,
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    # Given a survey
    _define(api, keys)
    # When a response breaks it
    response = _answer(api, keys, "r-bad", answers=answers(**change))
    # Then it is a 422 naming the answer
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["fields"][0]["field"] == field
    assert message in error["fields"][0]["message"]
    # And nothing was stored or published; the id is still free
    assert _results(api, keys)["total"]["responses"] == 0
    assert published.of_type("survey.answered") == []
    assert _answer(api, keys, "r-bad").status_code == 201


def test_unknown_survey_and_version(api: TestClient, keys: FeedbackKeys) -> None:
    _define(api, keys)
    missing = api.post(
        "/v1/surveys/nope/responses",
        json={"response_id": "r", "customer_id": "c", "answers": answers()},
        headers=keys.storefront,
    )
    assert missing.status_code == 404
    version = _answer(api, keys, "r-1", survey_version=7)
    assert version.status_code == 422
    assert version.json()["error"]["fields"][0]["field"] == "survey_version"
    bad_id = _answer(api, keys, "r 1")
    assert bad_id.status_code == 422
    assert bad_id.json()["error"]["fields"][0]["field"] == "response_id"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda s: s["questions"][0].update(options=s["questions"][0]["options"][:1]),
            "questions.0.options",
        ),
        (lambda s: s["questions"][1].update(id="q1"), "questions.1.id"),
        (
            lambda s: s["questions"][2].update(options=[{"id": "a", "label": "A"}]),
            "questions.2.options",
        ),
        (lambda s: s["questions"][0]["options"][1].update(id="self"), "questions.0.options.1.id"),
        (
            lambda s: s["questions"][0]["options"][0].update(preferences={"Motive!": "x"}),
            "questions.0.options.0.preferences.Motive!",
        ),
        (lambda s: s["questions"][3].update(kind="slider"), "questions.3.kind"),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(
    api: TestClient, keys: FeedbackKeys, mutate: Any, field: str
) -> None:
    body = copy.deepcopy(SURVEY)
    mutate(body)
    response = api.post("/v1/surveys", json=body, headers=keys.admin)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"][0]["field"] == field
    assert api.get("/v1/surveys/why-bought", headers=keys.reader).status_code == 404


def test_results_counts_nps_texts_over_time_and_by_segment(
    api: TestClient, keys: FeedbackKeys, clock: Clock, fb: FeedbackContainer
) -> None:
    from feedback.entrypoints import events

    # Given c-1 in the "vip" segment (from the segmenter's event), c-2 and c-3 not
    vip = EventEnvelope(
        id="seg-1",
        shop="acme",
        type="segment.entered",
        time=clock.now,
        detail={"segment_id": "vip", "customer_id": "c-1"},
    )
    events.handler({"detail": vip.model_dump(mode="json")}, None)
    _define(api, keys)
    # And three responses over two days
    assert (
        _answer(api, keys, "r-1", "c-1", answers=answers(q4=10, q5="とても良い")).status_code == 201
    )
    assert (
        _answer(api, keys, "r-2", "c-2", answers=answers(q1="self", q4=7, q2=[])).status_code == 201
    )
    clock.advance(days=1)
    assert _answer(api, keys, "r-3", "c-3", answers=answers(q4=3, q3=2)).status_code == 201

    # Then the totals count options, ratings, the NPS split, and list the texts
    total = _results(api, keys)["total"]
    assert total["responses"] == 3
    assert _question(total, "q1")["counts"] == {"self": 1, "gift": 2}
    assert _question(total, "q2")["counts"] == {"fragrance": 2, "alcohol": 0, "none": 0}
    assert _question(total, "q2")["answered"] == 2
    assert _question(total, "q3")["average"] == pytest.approx(3.33, abs=0.01)
    nps = _question(total, "q4")["nps"]
    assert nps == {"score": 0.0, "promoters": 1, "passives": 1, "detractors": 1}
    assert [t["text"] for t in _question(total, "q5")["texts"]] == ["とても良い"]

    # And by day (JST) there are two buckets
    by_day = _results(api, keys, bucket="day")["buckets"]
    assert [(b["start"], b["summary"]["responses"]) for b in by_day] == [
        ("2026-11-23", 2),
        ("2026-11-24", 1),
    ]
    # And by segment only c-1's response counts (membership when they answered)
    vip_results = _results(api, keys, segment_id="vip")
    assert vip_results["total"]["responses"] == 1
    assert _question(vip_results["total"], "q4")["nps"]["score"] == 100.0

    # And a later exit does not rewrite history, but later answers follow it
    exited = vip.model_copy(update={"id": "seg-2", "type": "segment.exited", "time": clock.now})
    events.handler({"detail": exited.model_dump(mode="json")}, None)
    assert fb.adapters.surveys.segments_of("acme", "c-1") == ()
    assert _results(api, keys, segment_id="vip")["total"]["responses"] == 1
    # And a stale (older) entered event does not undo the exit
    events.handler({"detail": vip.model_dump(mode="json")}, None)
    assert fb.adapters.surveys.segments_of("acme", "c-1") == ()


def test_results_need_the_read_scope_and_say_which_parameter_is_wrong(
    api: TestClient, keys: FeedbackKeys
) -> None:
    # Given a survey with a response
    _define(api, keys)
    assert _answer(api, keys, "r-1").status_code == 201
    # Then a storefront key cannot read results
    response = api.get("/v1/surveys/why-bought/results", headers=keys.storefront)
    assert response.status_code == 403
    # And an unknown bucket, or a time without a UTC offset, is a 422 naming the parameter
    for name, value in (
        ("bucket", "year"),
        ("since", "2030-01-01T00:00:00"),
        ("until", "2030-01-01T00:00:00"),
    ):
        bad = api.get("/v1/surveys/why-bought/results", params={name: value}, headers=keys.reader)
        assert bad.status_code == 422, bad.text
        assert bad.json()["error"]["fields"][0]["field"] == name
    # And with an offset the window counts the response
    window = {"since": "2026-11-01T00:00:00+09:00", "until": "2030-01-01T00:00:00Z"}
    assert _results(api, keys, **window)["total"]["responses"] == 1


def test_invitations_ask_the_messenger_once_per_customer(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher
) -> None:
    # Given a survey
    _define(api, keys)
    body = {"invitation_id": "nov-2026", "customer_ids": ["c-1", "c-2", "c-1"]}
    # When a marketer invites two customers (one listed twice)
    response = api.post("/v1/surveys/why-bought/invitations", json=body, headers=keys.marketer)
    assert response.status_code == 202, response.text
    assert response.json() == {"requested": 2}
    # Then one message request per customer, each with its own signed link
    requests = published.of_type("message.requested")
    details = [MessageRequested.model_validate(e.detail) for e in requests]
    assert [d.recipient.customer_id for d in details] == ["c-1", "c-2"]
    assert {d.category for d in details} == {"marketing"}
    assert {d.template for d in details} == {"survey_invitation"}
    assert details[0].variables["survey_url"].startswith("https://kizuna.test/f/s/")
    assert details[0].variables["survey_url"] != details[1].variables["survey_url"]
    assert all(e.id == d.request_id for e, d in zip(requests, details, strict=True))
    # And a retry of the same invitation asks for the same messages (same ids and links)
    api.post("/v1/surveys/why-bought/invitations", json=body, headers=keys.marketer)
    again = published.of_type("message.requested")[2:]
    assert [e.id for e in again] == [e.id for e in requests]
    assert [e.detail["variables"] for e in again] == [e.detail["variables"] for e in requests]
    # And a storefront key may not send marketing
    denied = api.post("/v1/surveys/why-bought/invitations", json=body, headers=keys.storefront)
    assert denied.status_code == 403


def test_message_requested_contract_refuses_an_address_without_channel() -> None:
    with pytest.raises(ValueError, match="needs its channel"):
        MessageRequested.model_validate(
            {
                "request_id": "r",
                "recipient": {"address": "a@example.jp"},
                "category": "transactional",
                "template": "restock_confirm",
                "requested_by": "test",
            }
        )
    with pytest.raises(ValueError, match="customer_id or an address"):
        MessageRequested.model_validate(
            {
                "request_id": "r",
                "recipient": {},
                "category": "marketing",
                "template": "t",
                "requested_by": "test",
            }
        )


def _edit(api: TestClient, keys: FeedbackKeys, body: dict[str, Any]) -> Any:
    edited = copy.deepcopy(body)
    edited.pop("survey_id", None)
    return api.put("/v1/surveys/why-bought", json=edited, headers=keys.admin)


def test_a_retry_after_the_survey_was_edited_is_a_duplicate(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher
) -> None:
    # Given a response to version 1 (the storefront names no version)
    _define(api, keys)
    assert _answer(api, keys, "r-1").status_code == 201
    # And the survey was edited since (an option added)
    edited = copy.deepcopy(SURVEY)
    edited["questions"][0]["options"].append({"id": "family", "label": "家族用"})
    assert _edit(api, keys, edited).json()["version"] == 2

    # When the storefront retries the same response (same id, same answers)
    again = _answer(api, keys, "r-1")

    # Then it is a duplicate of the stored version-1 response: nothing changes
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "duplicate"
    assert again.json()["survey_version"] == 1
    assert _results(api, keys)["total"]["responses"] == 1
    assert len({e.id for e in published.of_type("survey.answered")}) == 1
    # And so it is after an edit that dropped the option it chose
    edited["questions"][0]["options"] = [
        {"id": "self", "label": "自分用"},
        {"id": "other", "label": "その他"},
    ]
    assert _edit(api, keys, edited).json()["version"] == 3
    assert _answer(api, keys, "r-1").json()["status"] == "duplicate"
    assert _results(api, keys)["total"]["responses"] == 1
    # But the same id with other answers is still refused
    assert _answer(api, keys, "r-1", answers=answers(q1="self")).status_code == 409


SCORED: dict[str, Any] = {
    "q3": {"min": 1, "max": 2, "preferences": {"texture": "disliked"}},
    "q4": [
        {"min": 9, "max": 10, "preferences": {"advocate": "promoter"}},
        {"min": 0, "max": 6, "preferences": {"advocate": "detractor"}},
    ],
}


def _scored_survey() -> dict[str, Any]:
    body = copy.deepcopy(SURVEY)
    body["questions"][2]["score_ranges"] = [SCORED["q3"]]
    body["questions"][3]["score_ranges"] = SCORED["q4"]
    return body


def test_rating_and_nps_answers_map_to_preferences_by_score_range(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher
) -> None:
    # Given a survey whose rating and NPS questions map score ranges to preferences
    created = _define(api, keys, _scored_survey())
    assert created["questions"][3]["score_ranges"][0] == {
        "min": 9,
        "max": 10,
        "preferences": {"advocate": ["promoter"]},
    }
    assert created["questions"][4]["score_ranges"] == []  # free text maps to nothing

    # When customers answer: a promoter who rated 4, a detractor who rated 2, a passive
    promoter = _answer(api, keys, "r-1", "c-1", answers=answers(q3=4, q4=10))
    detractor = _answer(api, keys, "r-2", "c-2", answers=answers(q1="self", q3=2, q4=3))
    passive = _answer(api, keys, "r-3", "c-3", answers=answers(q2=None, q3=5, q4=8, q5="普通"))

    # Then the preferences of each range land on `survey.answered`, next to the options'
    assert promoter.json()["preferences"] == {
        "advocate": ["promoter"],
        "dislike": ["fragrance"],
        "motive": ["gift"],
    }
    assert detractor.json()["preferences"] == {
        "advocate": ["detractor"],
        "dislike": ["fragrance"],
        "motive": ["self"],
        "texture": ["disliked"],
    }
    assert passive.json()["preferences"] == {"motive": ["gift"]}
    events = {e.detail["customer_id"]: e.detail for e in published.of_type("survey.answered")}
    assert events["c-1"]["preferences"]["advocate"] == ["promoter"]
    assert events["c-2"]["preferences"]["texture"] == ["disliked"]
    assert "advocate" not in events["c-3"]["preferences"]


def test_bad_score_ranges_are_refused_naming_the_field(api: TestClient, keys: FeedbackKeys) -> None:
    cases: list[tuple[int, list[dict[str, Any]], str, str]] = [
        (4, [SCORED["q3"]], "questions.4.score_ranges", "free-text answers are not mapped"),
        (0, [SCORED["q3"]], "questions.0.score_ranges", "through their options"),
        (3, [{"min": 9, "max": 11, "preferences": {"a": "b"}}], ".0.max", "from 0 to 10"),
        (2, [{"min": 0, "max": 2, "preferences": {"a": "b"}}], ".0.min", "from 1 to 5"),
        (3, [{"min": 9, "max": 7, "preferences": {"a": "b"}}], ".0.max", "not be below min"),
        (3, [{"min": 9, "max": 10, "preferences": {}}], ".0.preferences", "at least one"),
        (3, [{"min": 9, "max": 10, "preferences": {"Bad!": "x"}}], ".preferences.Bad!", "lower"),
        (3, [{"min": 9, "max": 10, "preferences": {"a": " "}}], ".0.preferences.a", "a value"),
        (3, [{"min": 9, "max": 10}], ".0.preferences", "Field required"),
        (3, [*SCORED["q4"], {"min": 6, "max": 8, "preferences": {"a": "b"}}], ".2", "overlaps"),
    ]
    for index, ranges, field, message in cases:
        # When a survey is defined with a bad score range
        body = copy.deepcopy(SURVEY)
        body["questions"][index]["score_ranges"] = ranges
        response = api.post("/v1/surveys", json=body, headers=keys.admin)
        # Then it is a 422 naming the range's field, and no survey is stored
        assert response.status_code == 422, (field, response.text)
        error = response.json()["error"]["fields"][0]
        assert error["field"].endswith(field), (field, error)
        assert error["field"].startswith(f"questions.{index}.score_ranges"), error
        assert message in error["message"], (message, error)
    assert api.get("/v1/surveys/why-bought", headers=keys.reader).status_code == 404


def test_a_question_keeps_its_kind_across_versions(api: TestClient, keys: FeedbackKeys) -> None:
    # Given version 1, where q3 is a 1-5 rating, and a response rating it 4
    _define(api, keys)
    assert _answer(api, keys, "r-1").status_code == 201
    # When an edit turns q3 into an NPS question (0-10) under the same id
    edited = copy.deepcopy(SURVEY)
    edited["questions"][2]["kind"] = "nps"
    response = _edit(api, keys, edited)
    # Then it is refused, naming the kind, and the survey stays at version 1
    assert response.status_code == 422, response.text
    error = response.json()["error"]["fields"][0]
    assert error["field"] == "questions.2.kind"
    assert "new id" in error["message"]
    assert api.get("/v1/surveys/why-bought", headers=keys.reader).json()["version"] == 1
    # Even when the question was left out of a version in between
    without_q3 = copy.deepcopy(SURVEY)
    del without_q3["questions"][2]
    assert _edit(api, keys, without_q3).json()["version"] == 2
    assert _edit(api, keys, edited).status_code == 422
    # And asked under a new id, the results keep the two apart
    edited["questions"][2]["id"] = "q3nps"
    assert _edit(api, keys, edited).json()["version"] == 3
    assert _answer(api, keys, "r-2", answers=answers(q3=None, q3nps=9)).status_code == 201
    total = _results(api, keys)["total"]
    assert _question(total, "q3")["counts"]["4"] == 1
    assert _question(total, "q3nps")["counts"]["9"] == 1


def test_an_expired_survey_link_shows_a_clear_page_and_stores_nothing(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher, clock: Clock
) -> None:
    # Given a signed survey link for c-1 (valid 30 days)
    _define(api, keys)
    link = api.post(
        "/v1/surveys/why-bought/links", json={"customer_id": "c-1"}, headers=keys.storefront
    )
    path = urlsplit(link.json()["url"]).path
    # When the customer opens it after 31 days, and sends the form anyway
    clock.advance(days=31)
    page = api.get(path)
    sent = api.post(path, content=b"version=1&q.q1=gift&q.q3=4&q.q4=9")
    # Then both show an "expired" page (410, in Japanese, no form to fill)
    for response in (page, sent):
        assert response.status_code == 410
        assert response.headers["content-type"].startswith("text/html")
        assert 'data-state="expired"' in response.text
        assert "有効期限が切れています" in response.text
        assert "<form" not in response.text
    # And nothing was stored or published
    assert _results(api, keys)["total"]["responses"] == 0
    assert published.of_type("survey.answered") == []


def test_a_response_that_meets_a_concurrent_write_is_accepted_not_refused(
    api: TestClient,
    keys: FeedbackKeys,
    published: RecordingPublisher,
    dynamo_hooks: DynamoHooks,
) -> None:
    # Given a survey
    _define(api, keys)
    # When a response's transaction is cancelled once because another request was writing
    dynamo_hooks.conflict(times=1)
    response = _answer(api, keys, "r-1")
    # Then it is run again and accepted, not refused as "other answers"
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "accepted"
    assert _results(api, keys)["total"]["responses"] == 1
    # When the conflicts go on, the storefront is told to retry (503), nothing is stored
    dynamo_hooks.conflict(times=10)
    busy = _answer(api, keys, "r-2")
    assert busy.status_code == 503, busy.text
    dynamo_hooks.conflict(times=0)
    assert _results(api, keys)["total"]["responses"] == 1
    assert len(published.of_type("survey.answered")) == 1
    # And its retry is accepted
    assert _answer(api, keys, "r-2").status_code == 201
