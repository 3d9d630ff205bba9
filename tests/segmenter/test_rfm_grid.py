"""GET /v1/segments/rfm-grid: customers per R x F score, the grid a marketer drills into
(and a BI tool can read); a cell's customers are the preview of its rule."""

from __future__ import annotations

from fastapi.testclient import TestClient

from segmenter.domain.segments.rfm import grid
from tests.conftest import ShopKeys, order_payload


def test_the_grid_counts_every_scored_customer_in_its_cell() -> None:
    """Given scores (r, f, m, rank, revenue) of four customers, one not scored yet
    Then each lands in its cell with its revenue and mean M, every rank is listed, and
    the unscored one is counted apart."""
    result = grid(
        [
            (5, 1, 2, "general", 1000.0),
            (5, 1, 4, "general", 3000.0),
            (1, 3, 5, "dormant", 9000.0),
            (None, None, None, None, 0.0),
        ]
    )
    assert len(result.cells) == 25
    assert [(c.r, c.f) for c in result.cells[:6]] == [
        (5, 1),
        (5, 2),
        (5, 3),
        (5, 4),
        (5, 5),
        (4, 1),
    ]
    cell = next(c for c in result.cells if (c.r, c.f) == (5, 1))
    assert (cell.customers, cell.revenue, cell.mean_m) == (2, 4000.0, 3.0)
    empty = next(c for c in result.cells if (c.r, c.f) == (3, 3))
    assert (empty.customers, empty.mean_m) == (0, None)
    assert result.ranks == {"loyal": 0, "semi_loyal": 0, "general": 2, "dormant": 1}
    assert result.unscored == 1


def test_the_route_answers_the_shops_grid_and_preview_lists_a_cell(
    api: TestClient, shop: ShopKeys
) -> None:
    """Given three buyers, scored by the recompute
    When a reader asks for the grid and previews one cell's rule with a sample of 500
    Then the cells add up to the three, and the preview lists that cell's customers;
    a sample over 500 is a 422 naming `sample`."""
    for n, customer in enumerate(("a", "b", "c"), start=1):
        body = order_payload(n, customer_id=customer, email=f"{customer}@example.jp")
        assert (
            api.post("/v1/orders", json=body, headers=shop.header(shop.events)).status_code == 201
        )
    assert api.post("/v1/segments/recompute", headers=shop.header(shop.admin)).status_code == 200

    answer = api.get("/v1/segments/rfm-grid", headers=shop.header(shop.reader))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert sum(c["customers"] for c in body["cells"]) == 3 and body["unscored"] == 0
    cell = next(c for c in body["cells"] if c["customers"])
    rule = {
        "all": [
            {"field": "r_score", "op": "eq", "value": cell["r"]},
            {"field": "f_score", "op": "eq", "value": cell["f"]},
        ]
    }
    preview = api.post(
        "/v1/segments/preview", json={"rule": rule, "sample": 500}, headers=shop.header(shop.reader)
    ).json()
    assert preview["count"] == cell["customers"] == len(preview["sample_customer_ids"])
    too_many = api.post(
        "/v1/segments/preview", json={"rule": rule, "sample": 501}, headers=shop.header(shop.reader)
    )
    assert too_many.status_code == 422
    assert too_many.json()["error"]["fields"][0]["field"] == "sample"
