"""Personal-data rights on the feedback service (APPI, GDPR): an admin reads out a
person's survey answers and restock sign-ups, and `customer.erased` removes them, once,
however often the event arrives; the other people's answers and counts stay."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from feedback.adapters.rights import DynamoFeedbackPersonalData
from feedback.bootstrap import FeedbackContainer
from shared.clock import FixedClock as Clock
from shared.contracts import details
from tests.conftest import Cloud
from tests.feedback.conftest import SURVEY, FeedbackKeys, _install, answers
from tests.feedback.test_restock import SKU, _deliver, _signup, _sku

ERASURE = "erasure-test-1"


@pytest.fixture
def people(api: TestClient, keys: FeedbackKeys, other_keys: FeedbackKeys, clock: Clock) -> None:
    """Given Hanako (c-1) and Taro (c-2) in acme, each with a survey answer and a restock
    sign-up, Hanako in the `vip` segment, and another shop's customer also called c-1."""
    for k in (keys, other_keys):
        assert api.post("/v1/surveys", json=SURVEY, headers=k.admin).status_code == 201
    for k, customer_id, response_id in (
        (keys, "c-1", "r-1"),
        (keys, "c-2", "r-2"),
        (other_keys, "c-1", "r-9"),
    ):
        answered = api.post(
            "/v1/surveys/why-bought/responses",
            json={"response_id": response_id, "customer_id": customer_id, "answers": answers()},
            headers=k.storefront,
        )
        assert answered.status_code == 201, answered.text
    for customer_id in ("c-1", "c-2"):
        assert _signup(api, keys, customer_id=customer_id).status_code == 201
    _deliver("segment.entered", "seg-1", clock.now, segment_id="vip", customer_id="c-1")


def _export(api: TestClient, headers: dict[str, str], customer_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/feedback/customers/{customer_id}/export", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _erase(clock: Clock) -> dict[str, Any]:
    detail = details.CustomerErased(
        erasure_id=ERASURE,
        customer_ids=["c-1"],
        requested_by="key-admin",
        requested_at=clock.now,
    )
    return _deliver("customer.erased", ERASURE, clock.now, **detail.model_dump(mode="json"))


@pytest.mark.usefixtures("people")
def test_the_export_holds_her_answers_sign_ups_and_segments_of_this_shop_only(
    api: TestClient, keys: FeedbackKeys, other_keys: FeedbackKeys
) -> None:
    """When acme's admin exports Hanako
    Then it holds her answer, her sign-up and her segment, nothing of Taro or of the
    other shop's c-1; the other shop's export holds only its own; a reader is refused."""
    exported = _export(api, keys.admin, "c-1")

    assert exported["service"] == "feedback"
    assert [r["response_id"] for r in exported["survey_responses"]] == ["r-1"]
    assert [s["sku"] for s in exported["restock_signups"]] == [SKU]
    assert exported["segment_memberships"] == [{"segment_id": "vip"}]
    assert "c-2" not in json.dumps(exported) and "r-9" not in json.dumps(exported)
    theirs = _export(api, other_keys.admin, "c-1")
    assert [r["response_id"] for r in theirs["survey_responses"]] == ["r-9"]
    assert theirs["restock_signups"] == []
    assert api.get("/v1/feedback/customers/c-1/export", headers=keys.reader).status_code == 403


def _drilled(api: TestClient, keys: FeedbackKeys) -> tuple[list[str], list[str]]:
    """The survey's respondents and the SKU's signed-up customers, as the drill-downs list
    them."""
    respondents = api.get("/v1/surveys/why-bought/respondents", headers=keys.reader)
    signed = api.get("/v1/restock/customers", params={"sku": SKU}, headers=keys.reader)
    assert respondents.status_code == signed.status_code == 200, (respondents.text, signed.text)
    return respondents.json()["customer_ids"], signed.json()["customer_ids"]


@pytest.mark.usefixtures("people")
def test_after_erasure_her_answers_and_sign_ups_are_gone_once(
    api: TestClient, keys: FeedbackKeys, other_keys: FeedbackKeys, clock: Clock, cloud: Cloud
) -> None:
    """When `customer.erased` names Hanako, and is delivered again
    Then her export is empty and no acme item holds her id; Taro's answer and sign-up
    stay and are counted; the other shop's c-1 is untouched; the status says done, with
    the counts of the first delivery and no personal data; the drill-downs list Taro only."""
    assert _drilled(api, keys) == (["c-1", "c-2"], ["c-1", "c-2"])
    first = _erase(clock)
    again = _erase(clock)
    assert _drilled(api, keys) == (["c-2"], ["c-2"])

    assert first["status"] == again["status"] == "done"
    assert not any(v for k, v in _export(api, keys.admin, "c-1").items() if k != "service")
    acme = [
        i
        for i in cloud.dynamodb.scan(TableName=cloud.settings.feedback_table)["Items"]
        if i["pk"]["S"].startswith("SHOP#acme#")
    ]
    assert '"c-1"' not in json.dumps(acme) and "#c-1#" not in json.dumps(acme)
    assert [r["response_id"] for r in _export(api, keys.admin, "c-2")["survey_responses"]] == [
        "r-2"
    ]
    assert _sku(api, keys)["signups"]["active"] == 1
    results = api.get("/v1/surveys/why-bought/results", headers=keys.reader).json()
    assert results["total"]["responses"] == 1
    theirs = _export(api, other_keys.admin, "c-1")
    assert [r["response_id"] for r in theirs["survey_responses"]] == ["r-9"]
    status = api.get(f"/v1/feedback/erasures/{ERASURE}", headers=keys.admin)
    assert status.status_code == 200, status.text
    assert status.json()["status"] == "done"
    assert status.json()["removed"] == {
        "response_markers": 1,
        "restock_signups": 1,
        "segment_memberships": 1,
        "survey_responses": 1,
    }
    assert "c-1" not in status.text
    assert api.get(f"/v1/feedback/erasures/{ERASURE}", headers=other_keys.admin).status_code == 404


class Requests:
    """The DynamoDB operations one client sends, in order."""

    def __init__(self, client: Any) -> None:
        self.operations: list[str] = []
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.operations.append(str(model.name))


@pytest.mark.usefixtures("people")
def test_disclosure_and_erasure_read_the_person_by_index_never_by_scan(
    api: TestClient, keys: FeedbackKeys, cloud: Cloud, fb: FeedbackContainer, clock: Clock
) -> None:
    """Given Hanako, Taro and twenty more people's answers in acme
    When acme's admin exports Hanako, and `customer.erased` names her
    Then each reads her with two Queries (the `person` index and her memberships) and no
    Scan, however many other people the table holds; the erasure still removes her."""
    for n in range(20):
        body = {"response_id": f"r-x{n}", "customer_id": f"c-x{n}", "answers": answers()}
        assert api.post(
            "/v1/surveys/why-bought/responses", json=body, headers=keys.storefront
        ).is_success
    client = cloud.session.client("dynamodb")
    person = DynamoFeedbackPersonalData(client, cloud.settings.feedback_table)
    requests = Requests(client)
    _install(fb.replaced(personal_data=person, person_records=person))

    exported = _export(api, keys.admin, "c-1")
    read_for_export = list(requests.operations)
    requests.operations.clear()
    _erase(clock)

    assert read_for_export == ["Query", "Query"]
    assert [r["response_id"] for r in exported["survey_responses"]] == ["r-1"]
    assert "Scan" not in requests.operations
    assert requests.operations.count("Query") == 2
    assert not any(v for k, v in _export(api, keys.admin, "c-1").items() if k != "service")


@pytest.mark.usefixtures("people")
def test_items_stored_before_the_person_index_are_found_again_after_the_backfill(
    api: TestClient, keys: FeedbackKeys, other_keys: FeedbackKeys, cloud: Cloud
) -> None:
    """Given acme's items as they were stored before the `person` index (no `person`)
    When Hanako is exported, then the backfill runs (twice), then she is exported again
    Then the first export misses her answer and sign-up, the backfill indexes each of
    acme's person items once (the other shop's are not its business), and the second
    export finds them."""
    dynamodb = cloud.session.client("dynamodb")
    table = cloud.settings.feedback_table
    stripped = 0
    for item in dynamodb.scan(TableName=table)["Items"]:
        if "person" in item and item["pk"]["S"].startswith("SHOP#acme#"):
            key = {"pk": item["pk"], "sk": item["sk"]}
            dynamodb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE person")
            stripped += 1
    before = _export(api, keys.admin, "c-1")
    assert before["survey_responses"] == [] and before["restock_signups"] == []

    backfill = DynamoFeedbackPersonalData(dynamodb, table)
    assert backfill.index_people("acme") == (stripped, stripped)
    assert backfill.index_people("acme") == (0, 0)

    after = _export(api, keys.admin, "c-1")
    assert [r["response_id"] for r in after["survey_responses"]] == ["r-1"]
    assert [s["sku"] for s in after["restock_signups"]] == [SKU]
    theirs = _export(api, other_keys.admin, "c-1")
    assert [r["response_id"] for r in theirs["survey_responses"]] == ["r-9"]


class _CrashesOnTheSecondDelete:
    """A DynamoDB client that fails (as a Lambda timing out would) on its second
    `delete_item`, once."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.deletes = 0

    def delete_item(self, **request: Any) -> Any:
        self.deletes += 1
        if self.deletes == 2:
            raise RuntimeError("crashed mid-erasure")
        return self._inner.delete_item(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.usefixtures("people")
def test_an_erasure_crashed_partway_counts_every_item_once_after_the_redelivery(
    api: TestClient, keys: FeedbackKeys, cloud: Cloud, fb: FeedbackContainer, clock: Clock
) -> None:
    """Given Hanako's answer, sign-up and segment membership
    When `customer.erased` crashes after her first item is removed, and is delivered again
    Then meanwhile the status reads `in_progress` with what was removed so far; after the
    redelivery it is done and `removed` counts each of her items once, as an erasure that
    never crashed does (not only what the redelivery found left)."""
    client = _CrashesOnTheSecondDelete(cloud.dynamodb)
    person = DynamoFeedbackPersonalData(client, cloud.settings.feedback_table)  # type: ignore[arg-type]
    _install(fb.replaced(personal_data=person, person_records=person))

    with pytest.raises(RuntimeError):
        _erase(clock)
    pending = api.get(f"/v1/feedback/erasures/{ERASURE}", headers=keys.admin).json()
    done = _erase(clock)

    assert pending["status"] == "in_progress"
    assert sum(pending["removed"].values()) >= 1
    assert done["status"] == "done"
    status = api.get(f"/v1/feedback/erasures/{ERASURE}", headers=keys.admin).json()
    assert status["status"] == "done"
    assert status["removed"] == {
        "response_markers": 1,
        "restock_signups": 1,
        "segment_memberships": 1,
        "survey_responses": 1,
    }
