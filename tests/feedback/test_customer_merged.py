"""`customer.merged` on the feedback service: the segmenter proved two profiles one person,
so the merged-away id's survey answers, restock sign-ups and notifications become the
survivor's, once, however often the event arrives."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from shared.clock import FixedClock as Clock
from shared.contracts import details
from tests.feedback.conftest import SURVEY, FeedbackKeys, RecordingPublisher, answers
from tests.feedback.test_restock import SKU, _deliver, _signup, _sku, _stock

OTHER_SKU = "LOTION-150"


def _merge(clock: Clock, survivor: str, *merged: str, shop: str = "acme") -> dict[str, Any]:
    detail = details.CustomerMerged(
        customer_id=survivor, merged_ids=list(merged), caused_by="evt-phone"
    )
    return _deliver("customer.merged", "merge-1", clock.now, **detail.model_dump(mode="json"))


def _export(api: TestClient, keys: FeedbackKeys, customer_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/feedback/customers/{customer_id}/export", headers=keys.admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _answer(api: TestClient, keys: FeedbackKeys, customer_id: str, response_id: str) -> None:
    body = {"response_id": response_id, "customer_id": customer_id, "answers": answers()}
    answered = api.post("/v1/surveys/why-bought/responses", json=body, headers=keys.storefront)
    assert answered.status_code == 201, answered.text


def test_a_merge_moves_answers_and_sign_ups_to_the_survivor_once(
    api: TestClient, keys: FeedbackKeys, other_keys: FeedbackKeys, clock: Clock
) -> None:
    """Given Hanako as c-1 (an answer, sign-ups for two SKUs) and as c-2 (an answer, a
    sign-up for one of the same SKUs), and another shop's c-1 with an answer
    When `customer.merged` says c-1 is c-2, and is delivered again
    Then c-1 holds nothing; c-2 holds both answers and one sign-up per SKU; the SKU both
    had counts one active sign-up; c-2 signing up for the other SKU again is a duplicate;
    the survey still counts two responses; the redelivery moves nothing; the other
    shop's c-1 keeps its answer."""
    for k in (keys, other_keys):
        assert api.post("/v1/surveys", json=SURVEY, headers=k.admin).status_code == 201
    _answer(api, keys, "c-1", "r-1")
    _answer(api, keys, "c-2", "r-2")
    _answer(api, other_keys, "c-1", "r-9")
    for customer_id, sku in (("c-1", SKU), ("c-1", OTHER_SKU), ("c-2", SKU)):
        assert _signup(api, keys, customer_id=customer_id, sku=sku).status_code == 201
    assert _sku(api, keys)["signups"]["active"] == 2

    first = _merge(clock, "c-2", "c-1")
    again = _merge(clock, "c-2", "c-1")

    assert first["moved"] == {
        "response_markers": 1,
        "survey_responses": 1,
        "restock_signups": 2,
    }
    assert again["moved"] == {}
    assert not any(v for k, v in _export(api, keys, "c-1").items() if k != "service")
    survivor = _export(api, keys, "c-2")
    assert sorted(r["response_id"] for r in survivor["survey_responses"]) == ["r-1", "r-2"]
    assert sorted(s["sku"] for s in survivor["restock_signups"]) == [OTHER_SKU, SKU]
    assert {s["customer_id"] for s in survivor["restock_signups"]} == {"c-2"}
    assert _sku(api, keys)["signups"] == {"pending": 0, "active": 1, "unsubscribed": 0}
    assert _sku(api, keys, OTHER_SKU)["signups"]["active"] == 1
    repeat = _signup(api, keys, customer_id="c-2", sku=OTHER_SKU)
    assert repeat.status_code == 200 and repeat.json()["duplicate"] is True
    assert _sku(api, keys, OTHER_SKU)["signups"]["active"] == 1
    results = api.get("/v1/surveys/why-bought/results", headers=keys.reader).json()
    assert results["total"]["responses"] == 2
    theirs = _export(api, other_keys, "c-1")
    assert [r["response_id"] for r in theirs["survey_responses"]] == ["r-9"]


def test_a_person_told_of_a_restock_is_not_told_again_under_the_survivor(
    api: TestClient, keys: FeedbackKeys, clock: Clock, published: RecordingPublisher
) -> None:
    """Given c-1, c-3 and c-4 signed up (oldest first), and c-1 and c-3 told in the first
    wave of a release (one item back: waves of two)
    When c-1 is merged into c-2 and the release's next wave runs
    Then the notification is the survivor's (under the survivor's sign-up), so the wave
    tells c-4 and not the survivor again: nobody is told twice."""
    from feedback.entrypoints import events

    for customer_id in ("c-1", "c-3", "c-4"):
        assert _signup(api, keys, customer_id=customer_id).status_code == 201
        clock.advance(seconds=1)
    _stock(clock, "inv-0", 5, 0)
    _stock(clock, "inv-1", 0, 1)
    told = published.messages("restock_early_access")
    assert [m["recipient"]["customer_id"] for m in told] == ["c-1", "c-3"]

    moved = _merge(clock, "c-2", "c-1")["moved"]
    clock.advance(minutes=15)
    events.handler({"schedule": "restock-waves"}, None)

    assert moved == {"restock_signups": 1, "restock_notifications": 1}
    told = published.messages("restock_early_access")
    assert [m["recipient"]["customer_id"] for m in told] == ["c-1", "c-3", "c-4"]
    [notification] = _export(api, keys, "c-2")["restock_notifications"]
    assert notification["customer_id"] == "c-2"
    assert _sku(api, keys)["releases"][0]["notified"] == 3
