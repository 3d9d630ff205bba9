"""`POST /v1/customers/{id}/matches`: the segmenter judges segment rules on one profile
(what the messenger's journey filters ask), as it judges segment membership."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import ShopKeys
from tests.segmenter.test_ingest_reliability import _accepted, _order


def test_rules_are_judged_on_the_profile_and_bad_ones_named(
    api: TestClient, shop: ShopKeys
) -> None:
    """Given a customer with one skincare order
    When the messenger asks about three rules, then about a bad one, then about a stranger
    Then each rule gets its answer in order, the bad one a 422 naming `rules.1.op`, and
    the stranger a 404."""
    _accepted(api, shop, _order("A-1", "e-a1", {"customer_id": "c-1"}))
    reader = shop.header(shop.reader)
    rules = [
        {"field": "categories", "op": "contains", "value": "skincare"},
        {"activity": "bought", "sku": "SERUM-30", "within_days": 90, "count_gte": 2},
        {"not": {"field": "order_count", "op": "gte", "value": 2}},
    ]

    answer = api.post("/v1/customers/c-1/matches", json={"rules": rules}, headers=reader)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"customer_id": "c-1", "matches": [True, False, True]}

    bad = [rules[0], {"field": "order_count", "op": "roughly", "value": 2}]
    refused = api.post("/v1/customers/c-1/matches", json={"rules": bad}, headers=reader)
    assert refused.status_code == 422, refused.text
    assert [f["field"] for f in refused.json()["error"]["fields"]] == ["rules.1.op"]

    stranger = api.post("/v1/customers/c-404/matches", json={"rules": rules}, headers=reader)
    assert stranger.status_code == 404
