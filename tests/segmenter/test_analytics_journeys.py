"""Journey ROI in the campaign report, read through the narrow `JourneyResults` port,
against hand-computed numbers."""

from __future__ import annotations

from segmenter.adapters.journey_results import JourneyResults, results_of
from segmenter.bootstrap import AnalyticsPorts
from segmenter.domain.analytics.snapshot import JourneyResult
from segmenter.domain.analytics.views import ReportInputs, render
from segmenter.services import analytics
from tests.segmenter.test_clv_pass import NOW, FakeStore, NoCampaigns, shop

WELCOME = JourneyResult(
    "welcome",
    "Welcome series",
    sent={"email": 100, "line": 50},
    treated=80,
    converted=20,
    revenue=40_000.0,
    holdout=20,
    holdout_converted=2,
    holdout_revenue=2_000.0,
    discount=150.0,
)
WINBACK = JourneyResult("winback", "Win-back", {"sms": 10}, 10, 1, 3_000.0, 0, 0, 0.0)


class TwoJourneys(JourneyResults):
    def read(self, shop_id: str) -> list[JourneyResult]:
        return [WELCOME, WINBACK]


def test_journey_roi_against_attributed_revenue_and_the_holdout() -> None:
    # Given a shop with two journeys whose results the messenger counted
    store = FakeStore()
    ports = AnalyticsPorts(shop(30), store, NoCampaigns(), journeys=TwoJourneys())
    # When the analytics pass runs and the campaign report is read at email 2, LINE 3
    analytics.run_pass(ports, "shop-a", NOW)
    facts = store.json["facts"]["facts"]
    rows = render(
        "campaigns", facts, ReportInputs(NOW.date(), message_costs={"email": 2, "line": 3})
    )
    by_id = {r["source_id"]: r for r in rows if r["source"] == "journey"}
    # Then by hand, welcome: messages 100 x 2 + 50 x 3 = 350, plus 150 of coupons = 500;
    # ROI (40000 - 500) / 500 = 79; the holdout's 2000 from 20 people is 8000 for the 80
    # treated, so 32000 is incremental and (32000 - 500) / 500 = 63 against the holdout
    w = by_id["welcome"]
    assert (w["name"], w["rank"], w["sent"], w["converted"]) == ("Welcome series", "(all)", 150, 20)
    assert (w["message_cost"], w["discount"], w["cost"], w["roi"]) == (350, 150, 500, 79.0)
    assert (w["conversion_rate"], w["holdout_conversion_rate"]) == (0.25, 0.1)
    assert (w["holdout_revenue_scaled"], w["incremental_revenue"]) == (8000, 32000)
    assert w["roi_vs_holdout"] == 63.0 and w["unpriced_channels"] is None
    # And win-back sent SMS, which has no rate, and has no holdout: unknown, not zero
    b = by_id["winback"]
    assert b["cost"] is None and b["roi"] is None and b["unpriced_channels"] == "sms"
    assert b["holdout_revenue_scaled"] is None and b["roi_vs_holdout"] is None


def test_without_journey_results_the_report_has_campaign_rows_only() -> None:
    # Given the default wiring (the journeys table is not read yet)
    store = FakeStore()
    analytics.run_pass(AnalyticsPorts(shop(30), store, NoCampaigns()), "shop-a", NOW)
    # Then the pass stores no journey facts and the report shows no journey rows
    facts = store.json["facts"]["facts"]
    assert facts["journeys"] == []
    rows = render("campaigns", facts, ReportInputs(NOW.date()))
    assert not [r for r in rows if r["source"] == "journey"]


def test_sends_counted_before_the_per_channel_counts_leave_the_cost_unknown() -> None:
    """Given a journey whose stats count 10 sends, only 6 of them per channel (email: the
    other 4 went out before the messenger counted channels)
    When the pass reads them and the report prices email at 2
    Then the journey's cost and ROI are unknown, naming the unpriced sends, not 12 yen."""
    stats = {
        "entered": 12,
        "holdout": 2,
        "sent": 10,
        "sent_by_channel": {"email": 6},
        "converted": 1,
        "revenue": "3000",
        "discount": "0",
        "holdout_converted": 0,
        "holdout_revenue": "0",
        "versions": [],
    }
    (result,) = results_of("j", "J", stats)
    (row,) = render(
        "campaigns",
        {"journeys": [result.fact()]},
        ReportInputs(NOW.date(), message_costs={"email": 2}),
    )
    assert (row["sent"], row["treated"], row["cost"], row["roi"]) == (10, 10, None, None)
    assert row["unpriced_channels"] == "(unknown)"
