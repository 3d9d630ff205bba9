"""Journey definitions over real HTTP: bad JSON is a 422 naming the JSON path; validate
without saving; versions, pause/resume/archive, list paging."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from messenger.services.journeys.builtins import catalogue
from tests.conftest import ROOT, Cloud, ShopKeys
from tests.messenger.journey_world import STEP_DAYS, JourneyWorld, post_purchase


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    w = JourneyWorld(cloud, shop)
    for day in STEP_DAYS:
        w.message(f"step-{day}")
    return w


def _broken(change: Any) -> dict[str, Any]:
    body = copy.deepcopy(post_purchase())
    change(body)
    return body


BAD = [
    (
        "unknown step type",
        lambda b: b["steps"]["mail-1"].update(type="teleport"),
        "steps.mail-1.type",
    ),
    ("cycle", lambda b: b["steps"]["mail-3"].update(next="wait-1"), "steps.mail-3.next"),
    (
        "unreachable step",
        lambda b: b["steps"].update(orphan={"type": "exit"}),
        "steps.orphan",
    ),
    (
        "unknown message",
        lambda b: b["steps"]["mail-5"].update(message_id="nope"),
        "steps.mail-5.message_id",
    ),
    (
        "unknown segment",
        lambda b: b.update(flow_filter={"segment": "no-such-segment"}),
        "flow_filter",
    ),
    ("negative wait", lambda b: b["steps"]["wait-3"].update(days=-1), "steps.wait-3.days"),
    ("wait of 1e10 days", lambda b: b["steps"]["wait-3"].update(days=1e10), "steps.wait-3.days"),
    ("wait of 1e12 hours", lambda b: b["steps"]["wait-3"].update(hours=1e12), "steps.wait-3.hours"),
    ("next names no step", lambda b: b["steps"]["mail-7"].update(next="gone"), "steps.mail-7.next"),
    (
        "bad filter operator",
        lambda b: b["entry_filter"].update(op="roughly"),
        "entry_filter.op",
    ),
    ("unknown event", lambda b: b.update(exit_events=["order.teleported"]), "exit_events[0]"),
    (
        "restart_wait before a wait_until",
        lambda b: b["trigger"].update(restart_wait=True),
        "trigger.restart_wait",
    ),
    (
        "an anchor the trigger does not carry",
        lambda b: b["steps"]["wait-5"].update(anchor="shiped_at"),
        "steps.wait-5.anchor",
    ),
    (
        "a date no event carries",
        lambda b: b.update(trigger={"date_field": "expected_next_order_at"}),
        "trigger.date_field",
    ),
    (
        "a date its source does not carry",
        lambda b: b.update(trigger={"date_field": "birthday", "source": "order.shipped"}),
        "trigger.date_field",
    ),
    ("an id that is a route", lambda b: b.update(journey_id="enrolments"), "journey_id"),
    (
        "restart_wait not a boolean",
        lambda b: b["trigger"].update(restart_wait="yes"),
        "trigger.restart_wait",
    ),
]


@pytest.mark.parametrize(("what", "change", "path"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_definition_is_a_422_naming_the_path(
    world: JourneyWorld, what: str, change: Any, path: str
) -> None:
    """Given a journey with one mistake
    When it is validated or created
    Then both answer 422 naming the JSON path, and nothing is saved."""
    body = _broken(change)
    for route in ("/v1/journeys/validate", "/v1/journeys"):
        r = world.http.post(route, json=body, headers=world.auth)
        assert r.status_code == 422, (what, r.text)
        assert path in r.text, (what, r.text)
    assert world.http.get("/v1/journeys", headers=world.auth).json() == []


def test_validate_saves_nothing_and_versions_are_kept(world: JourneyWorld) -> None:
    """Given a valid journey
    When it is validated, created, edited, paused, resumed and archived
    Then validate saved nothing, each edit is a new version readable on its own,
    and an archived journey takes no new version."""
    ok = world.http.post("/v1/journeys/validate", json=post_purchase(), headers=world.auth)
    assert ok.status_code == 200 and ok.json()["enrols_on"] == ["order.shipped"]
    assert world.http.get("/v1/journeys", headers=world.auth).json() == []

    created = world.journey(post_purchase())
    assert created["version"] == 1
    edited = post_purchase()
    edited["steps"]["wait-3"]["days"] = 4
    r = world.http.post("/v1/journeys/post-purchase/versions", json=edited, headers=world.auth)
    assert r.status_code == 201 and r.json()["version"] == 2
    v1 = world.http.get("/v1/journeys/post-purchase?version=1", headers=world.auth).json()
    assert v1["definition"]["steps"]["wait-3"]["days"] == 3
    assert v1["version"] == 2 and v1["shown_version"] == 1

    for action, status in (("pause", "paused"), ("resume", "active"), ("archive", "archived")):
        r = world.http.post(f"/v1/journeys/post-purchase/{action}", headers=world.auth)
        assert r.status_code == 200 and r.json()["status"] == status
    r = world.http.post("/v1/journeys/post-purchase/versions", json=edited, headers=world.auth)
    assert r.status_code == 409
    assert world.http.get("/v1/journeys/nope/stats", headers=world.auth).status_code == 404


def test_the_list_pages_with_a_cursor(world: JourneyWorld) -> None:
    """Given three journeys
    When listed two at a time
    Then the cursor leads to the third, and a made-up cursor is a 422."""
    for name in ("a", "b", "c"):
        world.journey(post_purchase(journey_id=name))
    first = world.http.get("/v1/journeys?limit=2", headers=world.auth)
    assert [j["journey_id"] for j in first.json()] == ["a", "b"]
    cursor = first.headers["X-Next-Cursor"]
    second = world.http.get(f"/v1/journeys?limit=2&cursor={cursor}", headers=world.auth)
    assert [j["journey_id"] for j in second.json()] == ["c"]
    assert "X-Next-Cursor" not in second.headers
    bad = world.http.get("/v1/journeys?cursor=garbage", headers=world.auth)
    assert bad.status_code == 422


def _readme_journey() -> dict[str, Any]:
    """The journey JSON the README's "Journeys" section shows."""
    text = (ROOT / "README.md").read_text("utf-8")
    blocks = re.findall(r"```json\n(.*?)\n```", text, flags=re.S)
    (found,) = [json.loads(b) for b in blocks if '"journey_id": "post-purchase"' in b]
    return dict(found)


def test_the_readmes_journey_is_the_builtin_and_validates(world: JourneyWorld) -> None:
    """Given the post-purchase journey the README documents
    When it is validated over HTTP
    Then it is accepted, and it is the built-in as enabled (but for the built-in's
    message ids and topic)."""
    shown = _readme_journey()
    r = world.http.post("/v1/journeys/validate", json=shown, headers=world.auth)
    assert r.status_code == 200, r.text
    (builtin,) = [b for b in catalogue() if b.name == "post-purchase"]
    expected = json.loads(json.dumps(builtin.journey).replace('"pp-day-', '"step-'))
    expected.pop("topic")
    assert shown == expected
