"""Journey ROI in the campaign report, read through the narrow `JourneyResults` port,
against hand-computed numbers."""

from __future__ import annotations

from typing import Any

from segmenter.adapters.journey_results import results_of
from segmenter.bootstrap import AnalyticsPorts
from segmenter.domain.analytics.snapshot import JourneyResult
from segmenter.domain.analytics.views import Period, ReportInputs, render
from segmenter.services import analytics
from segmenter.services.ports import JourneyResults
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
    by_id = {
        r["source_id"]: r
        for r in rows
        if r["source"] == "journey" and (r["version"], r["rank"]) == ("(all)", "(all)")
    }
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
    row, before_ranks = render(
        "campaigns",
        {"journeys": [result.fact()]},
        ReportInputs(NOW.date(), message_costs={"email": 2}),
    )
    assert (row["sent"], row["treated"], row["cost"], row["roi"]) == (10, 10, None, None)
    assert row["unpriced_channels"] == "(unknown)"
    # And a messenger that counts no entry cohorts puts it all in one rank row of its own
    assert (before_ranks["rank"], before_ranks["treated"], before_ranks["cost"]) == (
        "(not by rank)",
        10,
        None,
    )


def _cohort(month: str, rank: str, version: int, **numbers: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "source_id": "welcome",
        "name": "Welcome series",
        "version": version,
        "month": month,
        "rank": rank,
        "sent": {},
        "treated": 0,
        "converted": 0,
        "revenue": 0.0,
        "holdout": 0,
        "holdout_converted": 0,
        "holdout_revenue": 0.0,
        "discount": 0.0,
    }
    row.update(numbers)
    return row


# Entry cohorts of the welcome journey (version 1 in October, version 2 in November):
# loyal in October: 10 treated (20 mails), 4 converted for 8000, 2 held out, 1 bought 1000
# general in October: 20 treated (40 mails), 2 converted for 2000 (100 off), 5 held out
# loyal in November (version 2): 6 treated (6 mails), 3 converted for 9000, no holdout
COHORTS = [
    _cohort("2026-10", "loyal", 1, sent={"email": 20}, treated=10, converted=4, revenue=8000.0,
            holdout=2, holdout_converted=1, holdout_revenue=1000.0),
    _cohort("2026-10", "general", 1, sent={"email": 40}, treated=20, converted=2, revenue=2000.0,
            holdout=5, discount=100.0),
    _cohort("2026-11", "loyal", 2, sent={"email": 6}, treated=6, converted=3, revenue=9000.0),
]  # fmt: skip
# The messenger's totals also hold 4 people (8 mails, one conversion of 500) who entered
# before it counted cohorts
TOTAL = {
    **_cohort("", "", 0, sent={"email": 74}, treated=40, converted=10, revenue=19_500.0,
              holdout=7, holdout_converted=1, holdout_revenue=1000.0, discount=100.0),
    "version": None,
}  # fmt: skip
for _k in ("month", "rank"):
    del TOTAL[_k]
V1 = {**TOTAL, "version": 1, "sent": {"email": 68}, "treated": 34, "converted": 7}
V1 |= {"revenue": 10_500.0}
V2 = {**TOTAL, "version": 2, "sent": {"email": 6}, "treated": 6, "converted": 3, "revenue": 9000.0}
V2 |= {"holdout": 0, "holdout_converted": 0, "holdout_revenue": 0.0, "discount": 0.0}
FACTS = {"journeys": [TOTAL, V1, V2], "journey_cohorts": COHORTS}


def _rows(period: Period) -> dict[tuple[Any, str], dict[str, Any]]:
    inputs = ReportInputs(NOW.date(), period=period, message_costs={"email": 10})
    return {(r["version"], r["rank"]): r for r in render("campaigns", FACTS, inputs)}


def test_journey_roi_per_rank_the_people_held_when_they_entered() -> None:
    """Given the messenger's totals and entry cohorts of a journey above
    When the campaign report is read for all time, mails at 10 yen
    Then there is a row per rank the entrants held, added up over months and versions,
    and what was counted before cohorts is a row of its own, so the ranks add up."""
    rows = _rows(Period())
    assert set(rows) == {
        ("(all)", "(all)"),
        (1, "(all)"),
        (2, "(all)"),
        ("(all)", "general"),
        ("(all)", "loyal"),
        ("(all)", "(not by rank)"),
    }
    # loyal: 16 treated, 26 mails = 260 yen; 12000 revenue; ROI (12000 - 260) / 260;
    # holdout 2 people 1000 -> 16 treated would be 8000; (4000 - 260) / 260
    loyal = rows[("(all)", "loyal")]
    assert (loyal["treated"], loyal["holdout"], loyal["sent"], loyal["converted"]) == (16, 2, 26, 7)
    assert (loyal["message_cost"], loyal["cost"], loyal["revenue"]) == (260, 260, 17_000)
    assert loyal["roi"] == round((17_000 - 260) / 260, 4)
    assert loyal["holdout_revenue_scaled"] == 8000 and loyal["incremental_revenue"] == 9000
    assert loyal["roi_vs_holdout"] == round((9000 - 260) / 260, 4)
    # general: 400 yen of mails and 100 of discount; no holdout revenue: all incremental
    general = rows[("(all)", "general")]
    assert (general["cost"], general["revenue"], general["incremental_revenue"]) == (
        500,
        2000,
        2000,
    )
    # before cohorts: 40 - 36 treated, 74 - 66 mails, 10 - 9 conversions, 500 of revenue
    before = rows[("(all)", "(not by rank)")]
    assert (before["treated"], before["sent"], before["converted"], before["revenue"]) == (
        4, 8, 1, 500,
    )  # fmt: skip
    assert before["holdout"] == 0 and before["entered_without_month"] == 4
    # and the whole is the messenger's total
    whole = rows[("(all)", "(all)")]
    assert (whole["treated"], whole["sent"], whole["revenue"]) == (40, 74, 19_500)
    assert {r["period_by"] for r in rows.values()} == {"entry_month"}


def test_a_period_keeps_the_people_who_entered_in_it() -> None:
    """Given the same journey
    When the report is read for November only
    Then the journey's rows are November's entrants' (version 2, loyal): 6 treated,
    6 mails, 9000; version 1 shows nothing; the 4 people without a month are left out
    and said to be.
    And for October to November, everything but those 4."""
    rows = _rows(Period("2026-11", "2026-11"))
    assert set(rows) == {("(all)", "(all)"), (1, "(all)"), (2, "(all)"), ("(all)", "loyal")}
    whole = rows[("(all)", "(all)")]
    assert (whole["treated"], whole["sent"], whole["revenue"], whole["cost"]) == (6, 6, 9000, 60)
    assert whole["roi"] == round((9000 - 60) / 60, 4) and whole["roi_vs_holdout"] is None
    v1 = rows[(1, "(all)")]
    assert (v1["treated"], v1["sent"], v1["cost"], v1["roi"]) == (0, 0, 0, None)
    assert rows[("(all)", "loyal")]["revenue"] == 9000
    assert whole["entered_without_month"] == 4
    both = _rows(Period("2026-10", "2026-11"))
    assert (both[("(all)", "(all)")]["treated"], both[("(all)", "(all)")]["sent"]) == (36, 66)
    assert both[("(all)", "(all)")]["revenue"] == 19_000
    assert ("(all)", "(not by rank)") not in both
