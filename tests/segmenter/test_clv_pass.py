"""Predictive CLV in the analytics pass: the pass over a shop's orders fits the model on
the tables it built and writes each buyer's score on the profile; a shop without the
history gets none and the pass names the threshold; the fields a segment rule reads, and
storage round trips (the DynamoDB write is in test_analytics)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from segmenter.adapters.analytics_data import AnalyticsData
from segmenter.adapters.campaign_results import CampaignResults
from segmenter.adapters.codec import profile_from_dict, profile_to_dict
from segmenter.bootstrap import AnalyticsPorts
from segmenter.domain.analytics.snapshot import CampaignColumns, ProfileRef
from segmenter.domain.membership import compile_segments, memberships
from segmenter.domain.model import ClvScore, Order, OrderStats, Profile
from segmenter.services import analytics
from segmenter.services.ports import AnalyticsStore

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
CHURN_RISK = {
    "all": [
        {"field": "p_alive", "op": "lt", "value": 0.3},
        {"field": "order_count", "op": "gte", "value": 2},
    ]
}


class FakeData(AnalyticsData):
    def __init__(self, profiles: list[Profile], orders: list[Order]) -> None:
        self.profiles = profiles
        self.orders = orders
        self.written: dict[str, ClvScore | None] = {}

    def read_shop(self, shop_id: str) -> tuple[list[Profile], list[Order]]:
        return list(self.profiles), list(self.orders)

    def put_clv(self, updates: Sequence[tuple[Profile | ProfileRef, ClvScore | None]]) -> int:
        for profile, score in updates:
            self.written[profile.customer_id] = score
        self.profiles = [
            replace(p, clv=self.written.get(p.customer_id, p.clv), version=p.version + 1)
            for p in self.profiles
        ]
        return len(updates)


class FakeStore(AnalyticsStore):
    def __init__(self) -> None:
        self.json: dict[str, dict[str, Any]] = {}

    def put_table(self, shop_id: str, table: str, path: Path) -> str:
        return f"memory://{shop_id}/{table}"

    def put_json(self, shop_id: str, name: str, value: dict[str, Any]) -> None:
        self.json[name] = value

    def put_cells(self, shop_id: str, month: str, path: Path, kind: str = "cells") -> None:
        self.json[f"{kind}/{month}"] = {"bytes": path.stat().st_size}


class NoCampaigns(CampaignResults):
    def read(self, shop_id: str) -> CampaignColumns:
        return CampaignColumns()


def shop(customers: int, seed: int = 3) -> FakeData:
    """Customers acquired over two years, each order on its own day; a third buy often and
    recently, a third bought a few times long ago, the rest once."""
    rng = random.Random(seed)
    profiles: list[Profile] = []
    orders: list[Order] = []
    for i in range(customers):
        customer = f"c{i:04d}"
        first = NOW - timedelta(days=rng.randint(200, 730))
        kind = i % 3
        if kind == 0:
            count, last = rng.randint(3, 12), NOW - timedelta(days=rng.randint(1, 30))
        elif kind == 1:
            count, last = rng.randint(2, 6), first + timedelta(days=rng.randint(10, 60))
        else:
            count, last = 1, first
        span = (last - first).days
        days = [0, *sorted(rng.sample(range(1, span), count - 2)), span] if count > 1 else [0]
        revenue = Decimal(0)
        for n, day in enumerate(days):
            total = Decimal(str(round(rng.uniform(2000, 9000))))
            revenue += total
            placed = first + timedelta(days=day)
            orders.append(Order(f"o-{customer}-{n}", customer, placed, "JPY", total, ()))
        stats = OrderStats(
            order_count=count, first_order_at=first, last_order_at=last, revenue=revenue
        )
        profiles.append(Profile("shop-a", customer, stats=stats, version=3))
    return FakeData(profiles, orders)


def ports(data: FakeData) -> AnalyticsPorts:
    return AnalyticsPorts(data=data, store=FakeStore(), campaigns=NoCampaigns())


def test_the_pass_scores_every_buyer_and_churn_risk_is_a_rule() -> None:
    # Given a shop with 900 buyers
    data = shop(900)
    profiles = data.profiles
    # When the analytics pass runs over its orders
    summary = analytics.run_pass(ports(data), "shop-a", NOW)
    # Then every buyer has a score written on the profile, and none is refused
    scores = data.written
    assert summary.clv_refused is None
    assert summary.clv_scored == summary.clv_written == len(scores) == 900
    # And the pass reports the fitted parameters, with the fit's n and log-likelihood
    params = summary.clv_params
    assert set(params) == {"r", "alpha", "a", "b", "p", "q", "gamma", "n", "log_likelihood"}
    assert params["n"] == 900 and params["log_likelihood"] < 0
    assert all(params[k] > 0 for k in ("r", "alpha", "a", "b", "p", "q", "gamma"))
    frequent = scores["c0000"]  # bought many times, recently
    lapsed = next(scores[p.customer_id] for p in profiles[1::3] if p.stats.order_count >= 4)
    assert frequent is not None and lapsed is not None
    assert frequent.p_alive > 0.8 > lapsed.p_alive
    assert frequent.expected_purchases_365d > frequent.expected_purchases_90d > 0
    assert frequent.predicted_clv_365d is not None and frequent.predicted_clv_365d > 0
    assert frequent.predicted_next_order_at > NOW
    # And "churn risk" (P(alive) < 0.3 and F >= 2) reads the stored fields
    rule = compile_segments([("churn-risk", CHURN_RISK)])
    scored = data.profiles
    at_risk = {p.customer_id for p in scored if memberships(p, rule, NOW)}
    assert at_risk
    assert all(
        p.clv is not None and p.clv.p_alive < 0.3 for p in scored if p.customer_id in at_risk
    )
    assert "c0000" not in at_risk
    assert not any(p.stats.order_count < 2 for p in scored if p.customer_id in at_risk)
    # And the score survives the trip through storage
    stored = profile_from_dict(profile_to_dict(scored[0]))
    assert stored.clv == scores["c0000"]
    # And a second pass at the same moment finds nothing to rewrite
    again = analytics.run_pass(ports(data), "shop-a", NOW)
    assert again.clv_scored == 900 and again.clv_written == 0


def test_the_forecast_shows_the_active_base_by_bgnbd() -> None:
    """Given a shop with 900 buyers, fitted in the pass
    When the forecast report is read
    Then its active_bgnbd row starts from the sum of the buyers' stored P(alive), and 3, 6
    and 12 months on it is the fit's expected survivors (fewer each time) plus the
    newcomers of a least-squares line through the last 12 months' new customers."""
    import numpy as np

    from segmenter.domain.analytics.views import ReportInputs, add_months, render

    data = shop(900)
    store = FakeStore()
    analytics.run_pass(AnalyticsPorts(data, store, NoCampaigns()), "shop-a", NOW)
    facts = store.json["facts"]["facts"]
    rows = {r["state"]: r for r in render("forecast", facts, ReportInputs(NOW.date()))}
    row = rows["active_bgnbd"]
    written = [s for s in data.written.values() if s is not None]
    assert row["customers"] == round(sum(s.p_alive for s in written))
    survivors = {r["months"]: r["customers"] for r in facts["clv_alive"]}
    assert survivors[0] == pytest.approx(sum(s.p_alive for s in written), abs=0.05)
    assert survivors[0] > survivors[3] > survivors[6] > survivors[12] > 0
    base = "2026-10"  # the last complete month before NOW
    months = [add_months(base, -k) for k in range(11, -1, -1)]
    new = [
        sum(
            r["customers"]
            for r in facts["lifecycle"]
            if r["month"] == m and r["from_state"] == "none"
        )
        for m in months
    ]
    slope, intercept = np.polyfit(np.arange(-11, 1), np.array(new, dtype=float), 1)
    for h in (3, 6, 12):
        newcomers = sum(max(intercept + slope * k, 0.0) for k in range(1, h + 1))
        assert row[f"in_{h}_months"] == pytest.approx(survivors[h] + newcomers, abs=0.06), h


def test_a_small_shop_gets_no_scores_and_the_reason() -> None:
    # Given a shop with 120 buyers
    data = shop(120)
    store = FakeStore()
    # When the analytics pass tries to fit
    summary = analytics.run_pass(
        AnalyticsPorts(data=data, store=store, campaigns=NoCampaigns()), "shop-a", NOW
    )
    # Then nobody is scored, and the reason names the threshold
    assert summary.clv_scored == 0 and data.written == {}
    assert summary.clv_params == {}
    assert summary.clv_refused is not None and "120 customers with an order" in summary.clv_refused
    assert store.json["facts"]["facts"]["clv"] == [{"scored": 0, "refused": summary.clv_refused}]
    # And the snapshot and reports were still computed
    assert store.json["status"]["status"] == "ready"
    # And a profile without a score has none of the fields (a rule on them is false)
    rule = compile_segments([("churn-risk", CHURN_RISK)])
    assert not any(memberships(p, rule, NOW) for p in data.profiles)


def test_a_shop_that_drops_below_a_threshold_loses_its_old_scores() -> None:
    # Given a small shop whose profiles still carry scores from an earlier fit
    data = shop(120)
    old = ClvScore(0.5, 0.1, 0.4, 1000.0, NOW)
    data.profiles = [replace(p, clv=old) for p in data.profiles]
    # When the pass runs and refuses the fit
    summary = analytics.run_pass(ports(data), "shop-a", NOW)
    # Then the old blocks are removed rather than left stale
    assert summary.clv_refused is not None and summary.clv_written == 120
    assert set(data.written.values()) == {None}
    assert all(p.clv is None for p in data.profiles)
