"""Every service reads one clock, so a test that sets it sets it for all of them.

The suite once failed from a date onwards because the messenger read the machine's clock
while the feedback test had fixed its own. These tests keep that from coming back."""

from __future__ import annotations

import ast
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shared import clock as shared_clock
from tests.conftest import TODAY, TRAVEL_DAYS_ENV, ShopKeys

SERVICES = Path(__file__).resolve().parents[2] / "services"
THE_CLOCK = SERVICES / "shared" / "clock.py"
_WALL_CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("date", "today"),
    ("time", "time"),
}


def _wall_clock_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
        if (name, node.func.attr) in _WALL_CLOCK_CALLS:
            found.append(f"{path.relative_to(SERVICES)}:{node.lineno}")
    return found


def test_no_service_reads_the_machine_clock_but_the_one_clock() -> None:
    # Given every module of every service
    modules = [p for p in SERVICES.rglob("*.py") if p != THE_CLOCK]

    # When we look for calls that read the wall clock directly
    reads = [hit for path in modules for hit in _wall_clock_reads(path)]

    # Then there are none: they all go through shared.clock.now
    assert reads == []


def test_the_clock_a_test_sets_is_the_clock_every_service_reads(
    segmenter_client: TestClient, shop: ShopKeys, clock: shared_clock.FixedClock
) -> None:
    # Given the suite's clock, moved to a day far from the machine's date
    assert shared_clock.now() == TODAY
    clock.now = datetime(2031, 2, 3, 4, 5, tzinfo=UTC)

    # When a customer's consent is recorded through the API (the service stamps the time)
    body = {
        "event_id": "evt-consent",
        "type": "customer.upserted",
        "customer": {
            "customer_id": "c-9",
            "email": "yui@example.jp",
            "consents": [{"channel": "email", "granted": True, "source": "footer"}],
        },
    }
    posted = segmenter_client.post("/v1/events", json=body, headers=shop.header(shop.events))
    assert posted.status_code in (200, 201, 202), posted.text
    profile = segmenter_client.get("/v1/customers/c-9", headers=shop.header(shop.reader)).json()

    # Then the consent carries the suite's time, not the machine's
    (consent,) = [c for c in profile["consents"] if c["channel"] == "email"]
    assert consent["recorded_at"].startswith("2031-02-03T04:05")


def test_the_future_run_really_moves_the_machine_clock() -> None:
    # Given `make test-future` (KIZUNA_TEST_TRAVEL_DAYS=365); a plain run has nothing to check
    days = os.environ.get(TRAVEL_DAYS_ENV)
    if not days:
        pytest.skip("only in `make test-future`")
    # When the test process reads the machine's clock / Then it is that far past the suite's day
    assert datetime.now(UTC) - TODAY > timedelta(days=int(days) - 30)
