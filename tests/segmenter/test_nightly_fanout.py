"""The nightly recompute as the template's state machine runs it: parallel-scan segments
fanned out (ops.local.states runs the same ASL definition), with the answers of the
single-Lambda recompute, and resumable after a child fails part way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

import segmenter.entrypoints.nightly as nightly
from ops.local.states import ExecutionFailed, StateMachineRunner
from ops.local.template import load_template, state_machines
from segmenter.adapters.repository import DynamoProfileRepository
from segmenter.bootstrap import SegmenterContainer
from segmenter.domain.segments import batch
from segmenter.domain.segments.batch import ColumnarEvaluator
from shared.clock import FixedClock as Clock
from tests.conftest import TEMPLATE, ShopKeys, segment_writer
from tests.segmenter.conftest import RecordingPublisher
from tests.segmenter.test_nightly_batch import (
    CUSTOM_SEGMENTS,
    CUSTOMERS,
    NIGHTLY_AT,
    _given_a_shop_in_two_time_zones,
)

SEGMENTS = 4


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
        "counts": container.profiles.get_member_counts(shop_id),
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
    assert container.profiles.get_member_counts(shop.shop_id) == {}  # nothing half-counted
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
    # Given a shop, and the two parts bench/segments_recompute.py times watched: every
    # segment's members by `ColumnarEvaluator.mask`, RFM's quintiles by `_scores_at_cuts`
    _given_a_shop_in_two_time_zones(api, shop, clock)
    masked: list[object] = []
    scored: list[int] = []
    mask, scores_at_cuts = ColumnarEvaluator.mask, batch._scores_at_cuts

    def watched_mask(self: ColumnarEvaluator, rule: Any) -> Any:
        masked.append(rule)
        return mask(self, rule)

    def watched_scores(values: Any, ordered: Any, cuts: Any) -> Any:
        scored.append(len(values))
        return scores_at_cuts(values, ordered, cuts)

    monkeypatch.setattr(ColumnarEvaluator, "mask", watched_mask)
    monkeypatch.setattr(batch, "_scores_at_cuts", watched_scores)

    # When the shop is recomputed that way
    if path == "fan-out":
        runner, _ = machine
        runner.execute({"total_segments": SEGMENTS}, NIGHTLY_AT)
    elif path == "single-Lambda nightly":
        container.segments.refresh_shops([shop.shop_id])
    else:
        container.segments.recompute_requested(shop.shop_id, "top_spenders")

    # Then every segment of the shop went through the columnar evaluator, and R, F and M
    # of all 9 customers through the quintile cuts
    compiled = container.cache.segments(shop.shop_id)
    assert len(compiled) > len(CUSTOM_SEGMENTS)  # the built-ins too
    assert all(segment.rule in masked for segment in compiled)
    assert sum(scored) == 3 * len(CUSTOMERS)
