"""Scheduled work per shop: one shop's failure is logged, retried, counted, and never
stops the shops after it."""

from __future__ import annotations

import pytest

from shared.scheduled import for_each_shop


def test_one_failing_shop_is_retried_counted_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given three shops: the first always fails, the second fails once, the third works
    calls: list[str] = []

    def work(shop_id: str) -> int:
        calls.append(shop_id)
        if shop_id == "broken" or (shop_id == "flaky" and calls.count("flaky") == 1):
            raise OverflowError("date value out of range for hanako@example.jp")
        return len(shop_id)

    # When the job runs over them
    run = for_each_shop("nightly-recompute", ["broken", "flaky", "fine"], work)

    # Then the shops after the failing one did their work, the flaky one on its retry
    assert run.results == {"flaky": 5, "fine": 4}
    assert calls == ["broken", "broken", "flaky", "flaky", "fine"]
    # And the report counts and names the failure
    assert run.report() == {
        "shops_done": 2,
        "shops_failed": 1,
        "failed": {"broken": "OverflowError"},
        "retried": ["broken", "flaky"],
    }
    # And the logs name job, shop and error type, never the error's text
    logged = [r for r in caplog.records if r.name == "kizuna.scheduled"]
    assert {(getattr(r, "shop", None), getattr(r, "gave_up", None)) for r in logged} >= {
        ("broken", True),
        ("flaky", False),
    }
    assert all("example.jp" not in r.getMessage() for r in logged)
    assert all("example.jp" not in str(r.__dict__) for r in logged)
