"""Journey ROI end to end: a journey with a holdout runs in the messenger (real DynamoDB,
mail through moto's SES), the analytics pass reads the journey's stats from the
messenger's HTTP API over real HTTP with a service token, and the campaign report shows
the numbers a marketer would work out by hand from who got mail and who bought."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from fastapi.testclient import TestClient

from segmenter.adapters.journey_results import MessengerJourneyResults
from segmenter.domain.errors import JourneyResultsUnavailable
from segmenter.entrypoints import analytics as analytics_handler
from shared.settings import get_settings
from tests.conftest import Cloud, ShopKeys
from tests.messenger.journey_world import JourneyWorld, post_purchase, step_mails_world

EMAIL_RATE = 4
"""Yen per mail."""


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    return step_mails_world(cloud, shop)


@pytest.fixture
def messenger_url(world: JourneyWorld) -> Iterator[str]:
    """The messenger's API (the world's container) served by uvicorn on a free port."""
    from messenger.entrypoints.api import app

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _second_order(world: JourneyWorld, customer: str, lines: int, paid: int) -> None:
    """An F2 order whose lines cost `lines` and for which the customer paid `paid`."""
    world.event(
        "order.placed",
        {
            "order_id": f"o2-{customer}",
            "customer": {"customer_id": customer, "email": f"{customer}@example.jp"},
            "placed_at": world.clock.now.isoformat(),
            "currency": "JPY",
            "total": str(paid),
            "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": str(lines)}],
            "order_count": 2,
            "is_first_order": False,
        },
    )


def _refresh(segmenter_client: TestClient, shop: ShopKeys, cloud: Cloud) -> None:
    assert segmenter_client.post(
        "/v1/analytics/refresh", headers=shop.header(shop.admin)
    ).status_code in (200, 202)
    (refresh,) = [
        e
        for e in cloud.take_events("AnalyticsFunction")
        if e["detail-type"] == "analytics.refresh_requested"
    ]
    analytics_handler.handler(refresh, None)


def _journey_rows(
    segmenter_client: TestClient, shop: ShopKeys, **period: str
) -> dict[Any, dict[str, Any]]:
    """The journey's rows of all ranks by version, and its per-rank rows by rank."""
    r = segmenter_client.get(
        "/v1/analytics/campaigns", params=period, headers=shop.header(shop.reader)
    )
    assert r.status_code == 200, r.text
    rows = [row for row in r.json()["rows"] if row["source"] == "journey"]
    return {row["version"] if row["rank"] == "(all)" else row["rank"]: row for row in rows}


def test_journey_roi_from_the_messengers_stats_over_http(
    cloud: Cloud,
    shop: ShopKeys,
    world: JourneyWorld,
    messenger_url: str,
    segmenter_client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given the post-purchase step mails with a 50 % holdout, 12 first-time buyers in it
    and four days of its mails (day 1 and day 3) to the treated
    And two treated people and one held-out person who order again, one with 500 off
    When analytics refreshes (the analytics function reads the messenger at its URL)
    Then the journey's row shows, by hand: mails 2 per treated person at 4 yen, the
    discount as the offer's cost, revenue against the holdout's scaled to the treated
    group's size, and ROI = (revenue − scaled holdout revenue − cost) / cost; version 1's
    row shows the same, the journey having one version
    And after an edit (version 2, no holdout) two more people's rows are version 2's, and
    the journey's row adds both versions up."""
    cloud.route_rules_to_queues()
    world.journey(post_purchase(journey_id="pp", holdout_percent=50))
    people = [f"f-{i}" for i in range(12)]
    loyal = set(people[::2])  # the messenger holds them in the loyal rank when they enter
    for p in people:
        world.customer(p)
        if p in loyal:
            world.event("segment.entered", {"segment_id": "rfm_loyal", "customer_id": p})
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    world.run_for(4)
    mails = {p: len(world.journey_mails(p)) for p in people}
    treated = [p for p in people if mails[p]]
    held = [p for p in people if not mails[p]]
    assert set(mails.values()) <= {0, 2} and len(treated) >= 2 and held, mails

    # Two treated people buy again (6,000 of lines for 5,500, and 3,000), one held out (4,000)
    _second_order(world, treated[0], 6000, 5500)
    _second_order(world, treated[1], 3000, 3000)
    _second_order(world, held[0], 4000, 4000)
    r = segmenter_client.put(
        "/v1/analytics/message-costs", json={"email": EMAIL_RATE}, headers=shop.header(shop.admin)
    )
    assert r.status_code == 200, r.text

    # When analytics refreshes, wired to the messenger's URL
    monkeypatch.setenv("KIZUNA_MESSENGER_API_URL", messenger_url)
    get_settings.cache_clear()
    analytics_handler.reset()
    _refresh(segmenter_client, shop, cloud)

    # Then, by hand
    rows = _journey_rows(segmenter_client, shop)
    assert set(rows) == {"(all)", 1, "loyal", "unranked"}
    n_t, n_h = len(treated), len(held)
    sent = 2 * n_t
    message_cost = sent * EMAIL_RATE
    cost = message_cost + 500
    revenue = 5500 + 3000
    scaled = 4000 * n_t / n_h
    for row in (rows["(all)"], rows[1]):
        assert (row["name"], row["source_id"], row["rank"]) == (
            "Post-purchase education",
            "pp",
            "(all)",
        )
        assert (row["treated"], row["holdout"], row["sent"]) == (n_t, n_h, sent)
        assert (row["converted"], row["conversion_rate"]) == (2, round(2 / n_t, 4))
        assert row["holdout_conversion_rate"] == round(1 / n_h, 4)
        assert (row["message_cost"], row["discount"], row["cost"]) == (message_cost, 500, cost)
        assert row["revenue"] == revenue and row["unpriced_channels"] is None
        assert row["roi"] == round((revenue - cost) / cost, 4)
        assert row["holdout_revenue_scaled"] == round(scaled, 2)
        assert row["incremental_revenue"] == round(revenue - scaled, 2)
        assert row["roi_vs_holdout"] == round((round(revenue - scaled, 2) - cost) / cost, 4)

    # And per rank the people held when they entered, by hand from who got mail
    for rank, members in (("loyal", loyal), ("unranked", set(people) - loyal)):
        row = rows.pop(rank)
        t = [p for p in treated if p in members]
        assert (row["treated"], row["holdout"], row["sent"]) == (
            len(t),
            len(members) - len(t),
            2 * len(t),
        )
        paid = {treated[0]: 5500, treated[1]: 3000}
        assert row["revenue"] == sum(paid.get(p, 0) for p in t)
        assert row["converted"] == len(set(t) & set(paid))
        assert row["discount"] == (500 if treated[0] in members else 0)
    assert set(rows) == {"(all)", 1}  # nothing entered before cohorts were counted
    # And a period keeps those who entered in its months (shop time): all of them in this
    # month, none the month before
    month = world.clock.now.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m")
    same = _journey_rows(segmenter_client, shop, **{"from": month, "to": month})
    assert (same["(all)"]["treated"], same["(all)"]["revenue"]) == (n_t, revenue)
    assert same["(all)"]["period_by"] == "entry_month"
    before = _journey_rows(segmenter_client, shop, to=f"{int(month[:4]) - 1}-12")
    assert (before["(all)"]["treated"], before["(all)"]["sent"], before["(all)"]["revenue"]) == (
        0,
        0,
        0,
    )

    # And the CSV download carries the same journey row
    csv = segmenter_client.get(
        "/v1/analytics/campaigns", params={"format": "csv"}, headers=shop.header(shop.reader)
    ).text
    assert "journey,pp,Post-purchase education,(all),(all)," in csv

    # When an edit is saved as version 2 (no holdout) and two more first-time buyers enter
    # it, while version 1's people go on through their mails
    edited = post_purchase(journey_id="pp", holdout_percent=0)
    r = world.http.post("/v1/journeys/pp/versions", json=edited, headers=world.auth)
    assert r.status_code == 201, r.text
    newcomers = ["g-0", "g-1"]
    for p in newcomers:
        world.customer(p)
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    world.run_for(2)
    _refresh(segmenter_client, shop, cloud)
    # Then version 2 shows its two people, their mails, no holdout to weigh against
    rows = _journey_rows(segmenter_client, shop)
    assert set(rows) == {"(all)", 1, 2, "loyal", "unranked"}
    v1_mails = sum(len(world.journey_mails(p)) for p in people)
    v2_mails = sum(len(world.journey_mails(p)) for p in newcomers)
    assert v1_mails > sent and v2_mails >= 2  # version 1 sent on (day 5), version 2 began
    v2 = rows[2]
    assert (v2["treated"], v2["holdout"], v2["sent"], v2["converted"]) == (2, 0, v2_mails, 0)
    assert v2["message_cost"] == v2_mails * EMAIL_RATE and v2["revenue"] == 0
    assert v2["roi"] == -1.0 and v2["roi_vs_holdout"] is None
    # And version 1 and the whole journey add up
    assert (rows[1]["sent"], rows[1]["treated"]) == (v1_mails, n_t)
    total = rows["(all)"]
    assert (total["sent"], total["treated"], total["holdout"]) == (
        v1_mails + v2_mails,
        n_t + 2,
        n_h,
    )
    assert total["message_cost"] == (v1_mails + v2_mails) * EMAIL_RATE

    # And a token signed with another secret is refused: the messenger answers no one else
    with pytest.raises(JourneyResultsUnavailable):
        MessengerJourneyResults(messenger_url, "x" * 40).read("acme")


def test_a_silent_messenger_leaves_the_report_without_journey_rows(
    cloud: Cloud, shop: ShopKeys, segmenter_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a messenger URL nobody answers at
    When analytics refreshes
    Then the pass still completes (the other reports are there) without journey rows,
    and the adapter says the messenger was unavailable."""
    cloud.route_rules_to_queues()
    secret = cloud.settings.signing_secret.get_secret_value()
    with pytest.raises(JourneyResultsUnavailable):
        MessengerJourneyResults("http://127.0.0.1:9", secret, timeout_seconds=2).read("acme")
    monkeypatch.setenv("KIZUNA_MESSENGER_API_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    analytics_handler.reset()
    _refresh(segmenter_client, shop, cloud)
    assert _journey_rows(segmenter_client, shop) == {}
    r = segmenter_client.get("/v1/analytics/repeat", headers=shop.header(shop.reader))
    assert r.status_code == 200
