"""A campaign's results drill down to their customers (`GET /v1/campaigns/{id}/customers`):
every count of the results, per variant and per rank, lists exactly the people it
counts, checked against what the test itself sent, opened, clicked and bought."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from messenger.domain.campaign import NO_RANK, RANKS, RESULT_METRICS
from messenger.entrypoints.schemas import ResultMetric, ResultRank
from tests.messenger.drilldown import every_page, mail_of, names_what_is_wrong
from tests.messenger.test_campaigns import CampaignWorld, _ab_messages, _mail_only, cw

__all__ = ["cw"]  # the campaigns world fixture, shared

SUBJECTS = {"春のセール": "A", "【48時間限定】春のセール": "B"}
RANK_OF = {"c-1": "loyal", "c-2": "loyal", "c-3": "general", "c-5": "general"}
OPENED = {"c-1", "c-3", "c-5"}
CLICKED = {"c-3", "c-6"}
BOUGHT = {"c-6"}
URL = "/v1/campaigns/spring/customers"


def _mail_of(raw: str) -> tuple[str, str, str]:
    """(customer, variant, html) of one sent mail, from its MIME alone."""
    mime, customer, html = mail_of(raw)
    return customer, SUBJECTS[str(mime["Subject"])], html


def _customers(cw: CampaignWorld, **params: Any) -> tuple[int, list[str]]:
    """Every page of one drill-down (two ids a page): its count and all its ids."""
    numbers, ids = every_page(cw.http, URL, cw.auth, ("count",), 2, **params)
    return numbers["count"], ids


def test_every_count_of_the_results_lists_exactly_its_customers(cw: CampaignWorld) -> None:
    # Given seven members of "vip", four of them ranked, and an A/B campaign sent to them
    people = [f"c-{i}" for i in range(1, 8)]
    _mail_only(cw, *people)
    cw.enter("vip", *people)
    for c, ranked in RANK_OF.items():
        cw.enter(f"rfm_{ranked}", c)
    _ab_messages(cw)
    cw.campaign(
        variants=[{"name": "A", "message_id": "spring-a"}, {"name": "B", "message_id": "spring-b"}],
        wave_interval_minutes=0,
    )
    cw.tick()
    mails = {
        c: (variant, html) for c, variant, html in map(_mail_of, (m.raw_data for m in cw.mails()))
    }
    assert sorted(mails) == people
    # And some open their mail, some click its link, and one of them buys
    for c in OPENED:
        pixel = mails[c][1].split('src="https://kizuna.test')[1].split('"')[0]
        assert cw.http.get(pixel).status_code == 200
    for c in CLICKED:
        click = mails[c][1].split('href="https://kizuna.test')[1].split('"')[0]
        assert cw.http.get(click, follow_redirects=False).status_code == 302
    order = {
        "order_id": "o-1",
        "customer": {"customer_id": "c-6", "email": "c-6@example.jp"},
        "placed_at": (cw.clock.now + timedelta(days=1)).isoformat(),
        "currency": "JPY",
        "total": "5980",
        "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "5980"}],
        "order_count": 2,
        "is_first_order": False,
    }
    assert cw.event("order.placed", order)["attributed_to"] == "spring"

    # When the results are read, and every count is drilled into (per metric, of all or
    # one variant, of all or one rank), page by page
    results = cw.results()
    who_did = {
        "sent": set(people),
        "delivered": set(mails),  # the provider took each of them
        "opened": OPENED | CLICKED,
        "clicked": CLICKED,
        "converted": BOUGHT,
    }
    checked = 0
    for metric in RESULT_METRICS:
        variants: tuple[str | None, ...] = (None, "A", "B")
        for variant in variants:
            ranks: tuple[str | None, ...] = (None, *RANKS, NO_RANK)
            for rank in ranks:
                params = {"metric": metric}
                if variant:
                    params["variant"] = variant
                if rank:
                    params["rank"] = rank
                count, ids = _customers(cw, **params)

                # Then the list is exactly the people the test made do that
                want = {
                    c
                    for c in who_did[metric]
                    if variant in (None, mails[c][0]) and rank in (None, RANK_OF.get(c, NO_RANK))
                }
                assert ids == sorted(want), params
                # And its count is the number the results show for that cell
                if rank is None and variant is None:
                    shown = results["total"][metric]
                elif rank is None:
                    shown = results["by_variant"][variant][metric]
                else:
                    rows = results["by_rank"].get(rank, {})
                    shown = sum(row[metric] for v, row in rows.items() if variant in (None, v))
                assert count == shown == len(want), params
                checked += bool(want)
    assert checked > 20  # most cells are not empty: the comparison is not of nothings


def test_a_drill_down_names_what_is_wrong(cw: CampaignWorld) -> None:
    # Given a sent campaign
    _mail_only(cw, "c-1")
    cw.enter("vip", "c-1")
    _ab_messages(cw)
    cw.campaign(variants=[{"name": "A", "message_id": "spring-a"}])
    cw.tick()
    # When the drill-down is asked with a bad parameter, Then a 422 names it
    names_what_is_wrong(
        cw.http,
        URL,
        cw.auth,
        (
            ({"metric": "likes"}, "metric"),
            ({"variant": "Z"}, "variant"),
            ({"rank": "vip"}, "rank"),
            ({"limit": 0}, "limit"),
            ({"cursor": "not-a-cursor"}, "cursor"),
        ),
    )
    # And an unknown campaign is a 404 naming it
    r = cw.http.get("/v1/campaigns/nope/customers", headers=cw.auth)
    assert r.status_code == 404 and r.json()["error"]["fields"][0]["field"] == "campaign_id"
    # And with good ones, the one recipient
    r = cw.http.get(URL, params={"metric": "sent", "variant": "A"}, headers=cw.auth)
    assert r.json()["customer_ids"] == ["c-1"] and r.json()["next_cursor"] is None


def test_the_query_schema_names_every_metric_and_rank_of_the_domain() -> None:
    # Given the query's written-out choices, Then they are the domain's
    assert ResultMetric.__args__ == RESULT_METRICS  # type: ignore[attr-defined]
    assert ResultRank.__args__ == (*RANKS, NO_RANK)  # type: ignore[attr-defined]
