"""The nightly recompute as the template's state machine runs it: parallel-scan segments
fanned out (ops.local.states runs the same ASL definition), with the answers of the
single-Lambda recompute (the recommendation model too, built from the children's
counts), and resumable after a child fails part way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

import segmenter.entrypoints.nightly as nightly
from ops.local.states import ExecutionFailed, StateMachineRunner
from ops.local.template import load_template, state_machines
from segmenter.adapters.nightly_runs import S3NightlyRuns
from segmenter.adapters.repository import DynamoProfileRepository
from segmenter.bootstrap import SegmenterContainer
from segmenter.domain.recommend import build_model
from segmenter.domain.segments import batch
from segmenter.domain.segments.batch import ColumnarEvaluator
from segmenter.services.segments import Segments
from shared.clock import FixedClock as Clock
from tests.conftest import TEMPLATE, ShopKeys, order_payload, segment_writer
from tests.segmenter.conftest import RecordingPublisher
from tests.segmenter.test_nightly_batch import (
    CUSTOM_SEGMENTS,
    CUSTOMERS,
    NIGHTLY_AT,
    _given_a_shop_in_two_time_zones,
)

SEGMENTS = 4
BASKETS: list[tuple[str, str, list[tuple[str, str, int]]]] = [
    # (customer, placed at, lines (SKU, category, quantity)): pairs bought together, a
    # SKU whose category changed (MASK-7), lines older than the best-seller window,
    # quantities above one, and counts that tie
    (
        "tokyo-regular",
        "2026-11-20T10:00:00+09:00",
        [("TONER", "skincare", 2), ("MASK-7", "gift", 1)],
    ),
    (
        "la-dormant",
        "2026-11-18T09:00:00-08:00",
        [("TONER", "skincare", 1), ("SHAMPOO", "haircare", 3)],
    ),
    (
        "tokyo-turns-30",
        "2025-01-10T10:00:00+09:00",
        [("MASK-7", "skincare", 1), ("SHAMPOO", "haircare", 1)],
    ),
    (
        "la-bday-in-8",
        "2026-11-19T09:00:00-08:00",
        [("MASK-7", "gift", 1), ("SERUM-30", "skincare", 1)],
    ),
    (
        "tokyo-bday-in-7",
        "2026-11-02T10:00:00+09:00",
        [("CLEANSER", "skincare", 4), ("TONER", "skincare", 1)],
    ),
]


@pytest.fixture
def machine(container: SegmenterContainer) -> Iterator[tuple[StateMachineRunner, list[Any]]]:
    """The template's NightlyRecomputeMachine on the test's segmenter; each step's
    (event, result) is recorded."""
    (spec,) = [m for m in state_machines(load_template(TEMPLATE)) if m.schedules]
    calls: list[Any] = []

    def invoke(logical_id: str, event: dict[str, Any]) -> Any:
        assert logical_id == "NightlyFunction"
        result = nightly.handler(event, None)
        calls.append((event, result))
        return result

    nightly.container.use(container)
    yield StateMachineRunner(spec.definition, spec.functions, invoke), calls
    nightly.reset()


def _published(container: SegmenterContainer, since: int = 0) -> list[tuple[str, str, str]]:
    publisher = container.publisher
    assert isinstance(publisher, RecordingPublisher)
    return [
        (e.id, e.type, f"{e.detail['segment_id']}/{e.detail['customer_id']}")
        for e in publisher.published[since:]
        if e.type in ("segment.entered", "segment.exited")
    ]


def _state(container: SegmenterContainer, shop_id: str) -> dict[str, Any]:
    profiles = container.profiles.iter_profiles(shop_id)
    return {
        "profiles": {p.customer_id: (p.segments, p.rfm) for p in profiles},
        "counts": container.profiles.get_member_counts(shop_id).counts,
    }


@pytest.mark.parametrize("per_customer_rule", [False, True])
def test_the_fan_out_writes_what_the_single_lambda_recompute_would(
    api: TestClient,
    shop: ShopKeys,
    clock: Clock,
    container: SegmenterContainer,
    machine: tuple[StateMachineRunner, list[Any]],
    per_customer_rule: bool,
) -> None:
    # Given a shop in two time zones with custom segments on RFM, activities and dates
    # (the apply children read them as columns), and maybe one on a topic's consent
    # (which the columnar engine does not run: those children read profiles)
    _given_a_shop_in_two_time_zones(api, shop, clock)
    if per_customer_rule:
        rule = {"field": "consent.topic.step_mails", "op": "eq", "value": True}
        body = {"segment_id": "step_mails_ok", "name": "step mails", "rule": rule}
        response = api.post("/v1/segments", json=body, headers=segment_writer(api, shop))
        assert response.status_code == 201, response.text
    runner, calls = machine

    # When the template's state machine runs over 4 scan segments
    result = runner.execute({"total_segments": SEGMENTS}, NIGHTLY_AT)

    # Then every child ran once per phase and the shop is finished
    steps = [event["step"] for event, _ in calls]
    assert steps == ["plan", *["rank"] * SEGMENTS, "pools", *["apply"] * SEGMENTS, "finish"]
    assert result["shops_done"] == 1 and result["shops"][shop.shop_id]["profiles"] == 9
    assert sum(r.get("shops_done", 0) for e, r in calls if e["step"] == "apply") >= 2
    fanned = _state(container, shop.shop_id)
    entries = _published(container)
    assert entries and len({i for i, _, _ in entries}) == len(entries)

    # And the single-Lambda recompute at the same instant finds nothing left to change
    summary = container.segments.recompute(shop.shop_id, NIGHTLY_AT)
    assert (summary.entered, summary.exited) == (0, 0)
    assert _state(container, shop.shop_id) == fanned
    assert result["shops"][shop.shop_id]["ranks"] == summary.ranks


def test_a_rerun_after_a_child_fails_midway_redoes_only_that_child(
    api: TestClient,
    shop: ShopKeys,
    clock: Clock,
    container: SegmenterContainer,
    machine: tuple[StateMachineRunner, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a shop, and profile writes that fail once: the first apply child that changes
    # profiles has published its events and written its member items, then fails
    _given_a_shop_in_two_time_zones(api, shop, clock)
    runner, calls = machine
    publisher = container.publisher
    assert isinstance(publisher, RecordingPublisher)
    before = len(publisher.published)
    real = DynamoProfileRepository.update_derived
    failed: list[int] = []

    def flaky(self: DynamoProfileRepository, changed: Any) -> Any:
        if not failed and changed:
            failed.append(len(changed))
            raise ConnectionError("the profile writes failed")
        return real(self, changed)

    monkeypatch.setattr(DynamoProfileRepository, "update_derived", flaky)

    # When the nightly runs, fails, and is started again on the failed run
    with pytest.raises(ExecutionFailed) as failure:
        runner.execute({"total_segments": SEGMENTS}, NIGHTLY_AT)
    assert failure.value.error == "ChildFailed" and failed
    assert container.profiles.get_member_counts(shop.shop_id).counts == {}  # nothing half-counted
    first_run = len(calls)
    later = datetime(2026, 11, 22, 18, 30, tzinfo=NIGHTLY_AT.tzinfo)
    result = runner.execute({"total_segments": SEGMENTS, "resume": NIGHTLY_AT.isoformat()}, later)

    # Then the rerun redid only the failed child: every other step found its work done
    rerun = [(e, r) for e, r in calls[first_run:]]
    assert all(r.get("skipped") for e, r in rerun if e["step"] == "rank")
    applied = [r for e, r in rerun if e["step"] == "apply"]
    assert sum(r["shops_done"] for r in applied) == 1
    assert result["shops_done"] == 1 and result["run"] == "nightly-20261122T180000Z"

    # And the end state equals a clean single-Lambda recompute: nothing counted twice,
    # and the events published twice (the failed child's) carry the same ids
    published = _published(container, since=before)
    assert len({i for i, _, _ in published}) == len({(t, m) for _, t, m in published})
    assert len(published) > len(set(published))  # the failed child's, published again
    fanned = _state(container, shop.shop_id)
    summary = container.segments.recompute(shop.shop_id, NIGHTLY_AT)
    assert (summary.entered, summary.exited) == (0, 0)
    assert _state(container, shop.shop_id) == fanned
    assert sum(fanned["counts"].values()) == sum(
        len(segments) for segments, _ in fanned["profiles"].values()
    )


@pytest.mark.parametrize("path", ["fan-out", "single-Lambda nightly", "segment created"])
def test_every_recompute_runs_the_engine_the_benchmark_times(
    api: TestClient,
    shop: ShopKeys,
    clock: Clock,
    container: SegmenterContainer,
    machine: tuple[StateMachineRunner, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    # Given a shop, and the parts bench/segments_recompute.py times watched: every
    # segment's members by `ColumnarEvaluator.mask`, R's and M's quintiles by
    # `_scores_at_cuts`, F's by `_frequency_scores`
    _given_a_shop_in_two_time_zones(api, shop, clock)
    masked: list[object] = []
    scored: list[int] = []
    f_scored: list[int] = []
    mask, scores_at_cuts = ColumnarEvaluator.mask, batch._scores_at_cuts
    frequency_scores = batch._frequency_scores

    def watched_mask(self: ColumnarEvaluator, rule: Any) -> Any:
        masked.append(rule)
        return mask(self, rule)

    def watched_scores(values: Any, ordered: Any, cuts: Any) -> Any:
        scored.append(len(values))
        return scores_at_cuts(values, ordered, cuts)

    def watched_frequency(values: Any, pool: Any) -> Any:
        f_scored.append(len(values))
        return frequency_scores(values, pool)

    monkeypatch.setattr(ColumnarEvaluator, "mask", watched_mask)
    monkeypatch.setattr(batch, "_scores_at_cuts", watched_scores)
    monkeypatch.setattr(batch, "_frequency_scores", watched_frequency)

    # When the shop is recomputed that way
    if path == "fan-out":
        runner, _ = machine
        runner.execute({"total_segments": SEGMENTS}, NIGHTLY_AT)
    elif path == "single-Lambda nightly":
        container.segments.refresh_shops([shop.shop_id])
    else:
        container.segments.recompute_requested(shop.shop_id, "top_spenders")

    # Then every segment of the shop went through the columnar evaluator, R and M of all
    # 9 customers through the quintile cuts, and F through the order-count cuts
    compiled = container.cache.segments(shop.shop_id)
    assert len(compiled) > len(CUSTOM_SEGMENTS)  # the built-ins too
    assert all(segment.rule in masked for segment in compiled)
    assert (sum(scored), sum(f_scored)) == (2 * len(CUSTOMERS), len(CUSTOMERS))


def _given_a_shop_with_baskets(api: TestClient, shop: ShopKeys, clock: Clock) -> None:
    """The two-time-zone shop, its baskets ordered the day before, the clock at the
    nightly."""
    _given_a_shop_in_two_time_zones(api, shop, clock)
    clock.now = datetime(2026, 11, 21, tzinfo=NIGHTLY_AT.tzinfo)
    _given_baskets(api, shop)
    clock.now = NIGHTLY_AT


def _given_baskets(api: TestClient, shop: ShopKeys) -> None:
    for n, (customer_id, placed_at, lines) in enumerate(BASKETS, start=50):
        items = [
            {"sku": sku, "quantity": q, "unit_price": "1000", "category": category}
            for sku, category, q in lines
        ]
        total = str(1000 * sum(q for _, _, q in lines))
        body = order_payload(
            n, customer_id, f"{customer_id}@example.jp", placed_at=placed_at, items=items
        )
        response = api.post(
            "/v1/orders", json={**body, "total": total}, headers=shop.header(shop.events)
        )
        assert response.status_code == 201, response.text


def _whole_shop_model(container: SegmenterContainer, shop_id: str) -> dict[str, Any]:
    """What the single-Lambda nightly stores: the model from every profile in one pass."""
    model = build_model(container.profiles.iter_profiles(shop_id, NIGHTLY_AT), NIGHTLY_AT)
    stored: dict[str, Any] = json.loads(json.dumps(model))
    return stored


def test_the_fan_out_builds_the_recommendation_model_from_its_children(
    api: TestClient,
    shop: ShopKeys,
    clock: Clock,
    container: SegmenterContainer,
    machine: tuple[StateMachineRunner, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a shop whose customers bought baskets across the scan segments, and no
    # whole-shop pass allowed in the run
    _given_a_shop_with_baskets(api, shop, clock)
    runner, calls = machine

    def whole_shop(self: Segments, shop_id: str, now: datetime) -> None:
        raise AssertionError("finish read the whole shop")

    monkeypatch.setattr(Segments, "rebuild_recommendations", whole_shop)

    # When the template's state machine runs over 4 scan segments
    runner.execute({"total_segments": SEGMENTS}, NIGHTLY_AT)

    # Then the stored model is the one the whole-shop build makes of the same profiles
    stored = container.profiles.get_reco_model(shop.shop_id)
    assert stored == _whole_shop_model(container, shop.shop_id)
    assert stored["best_sellers"][:4] == ["SERUM-30", "CLEANSER", "TONER", "SHAMPOO"]  # a tie
    assert stored["co_purchased"]["TONER"] == ["SERUM-30", "CLEANSER", "MASK-7", "SHAMPOO"]
    assert stored["category_of"]["MASK-7"] == "gift"  # its latest purchase's
    # And it was summed from more than one child's share
    shares = [e for e, r in calls if e["step"] == "apply" and r["shops_done"]]
    assert len(shares) >= 2


def test_a_child_redelivered_after_keeping_its_share_counts_it_once(
    api: TestClient,
    shop: ShopKeys,
    clock: Clock,
    container: SegmenterContainer,
    machine: tuple[StateMachineRunner, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a shop with baskets, and a child that keeps its recommendation share, then
    # fails before its done marker (so the resumed run does that shop's work again)
    _given_a_shop_with_baskets(api, shop, clock)
    runner, calls = machine
    real = S3NightlyRuns.put_json
    failed: list[str] = []

    def flaky(self: S3NightlyRuns, run: str, name: str, value: Any) -> None:
        if name.startswith("done/") and not failed:
            failed.append(name)
            raise ConnectionError("the done marker was not written")
        real(self, run, name, value)

    monkeypatch.setattr(S3NightlyRuns, "put_json", flaky)

    # When the nightly fails, is resumed, and the resumed run's apply children are
    # delivered once more after it finished
    with pytest.raises(ExecutionFailed):
        runner.execute({"total_segments": SEGMENTS}, NIGHTLY_AT)
    assert failed and container.profiles.get_reco_model(shop.shop_id) is None
    first_run = len(calls)
    later = datetime(2026, 11, 22, 18, 30, tzinfo=NIGHTLY_AT.tzinfo)
    runner.execute({"total_segments": SEGMENTS, "resume": NIGHTLY_AT.isoformat()}, later)
    redone = [r for e, r in calls[first_run:] if e["step"] == "apply"]
    assert sum(r["shops_done"] for r in redone) == 1
    for event, _ in [c for c in calls[first_run:] if c[0]["step"] in ("apply", "finish")]:
        nightly.handler(event, None)

    # Then the model is the whole-shop build's: the redone child's share replaced its
    # first one, nothing counted twice
    assert container.profiles.get_reco_model(shop.shop_id) == _whole_shop_model(
        container, shop.shop_id
    )


def test_a_run_whose_children_kept_no_shares_builds_the_model_from_the_profiles(
    api: TestClient,
    shop: ShopKeys,
    clock: Clock,
    container: SegmenterContainer,
    machine: tuple[StateMachineRunner, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a shop with baskets, and a run whose done markers were written before the
    # children kept recommendation shares (one begun before this version was deployed)
    _given_a_shop_with_baskets(api, shop, clock)
    runner, _ = machine
    real = S3NightlyRuns.get_arrays

    def without_shares(self: S3NightlyRuns, run: str, name: str) -> Any:
        return None if name.startswith("reco/") else real(self, run, name)

    monkeypatch.setattr(S3NightlyRuns, "get_arrays", without_shares)

    # When the state machine runs
    runner.execute({"total_segments": SEGMENTS}, NIGHTLY_AT)

    # Then finish built the model in one pass over the profiles: the same model
    assert container.profiles.get_reco_model(shop.shop_id) == _whole_shop_model(
        container, shop.shop_id
    )
