"""A journey's numbers drill down to their customers (`GET /v1/journeys/{id}/customers`):
who entered, was held out or treated, converted in either group, and who went through
each step (sent, delivered, opened), checked against what the test made happen and the
mail that left: every count of the stats lists exactly its people."""

from __future__ import annotations

from typing import Any

from messenger.domain.journeys.people import METRICS
from messenger.entrypoints import events as messenger_events
from messenger.entrypoints.schemas import JourneyMetric
from tests.conftest import Cloud
from tests.messenger.drilldown import (
    engaged,
    every_page,
    names_what_is_wrong,
    recipients,
    world,
)
from tests.messenger.fakes import RecordingPublisher
from tests.messenger.journey_world import JourneyWorld

__all__ = ["world"]  # the drilled journey's world fixture, shared

PEOPLE = [f"p-{i:02d}" for i in range(20)]
BUYERS = PEOPLE[::4]
OPENERS = PEOPLE[1::3]
URL = "/v1/journeys/drill/customers"


def _customers(world: JourneyWorld, **params: Any) -> tuple[int, int, int, list[str]]:
    """Every page of one drill-down (three ids a page): count, times, the stats' number
    and all its ids."""
    numbers, ids = every_page(world.http, URL, world.auth, ("count", "times", "stats"), 3, **params)
    return numbers["count"], numbers["times"], numbers["stats"], ids


def test_every_count_of_a_journey_lists_exactly_its_customers(world: JourneyWorld) -> None:
    # Given twenty first-time buyers entering a journey with a 50 % holdout, the first two
    # step mails going out, their `message.sent` events coming back, some opened
    recorder = RecordingPublisher()
    world.use(publisher=recorder)
    for p in PEOPLE:
        world.customer(p)
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    world.run_for(4)
    sent = [e for e in recorder.published if e.type == "message.sent"]
    for envelope in sent:
        messenger_events.handler({"detail": envelope.model_dump(mode="json")}, None)
    for envelope in sent:
        if envelope.detail["trigger"].endswith(":mail-1") and (
            envelope.detail["customer_id"] in OPENERS
        ):
            engaged(world, "message.opened", envelope)
    # And every fourth of them ordering again (the journey's goal)
    for p in BUYERS:
        world.order(f"o2-{p}", customer_id=p, n=2)

    # When every count of the stats is drilled into, page by page
    stats = world.stats("drill")
    treated = recipients(world, "mail-1")
    held = set(PEOPLE) - treated
    assert 0 < len(held) < len(PEOPLE)  # the draw split them
    want: dict[tuple[str | None, str], set[str]] = {
        (None, "entered"): set(PEOPLE),
        (None, "treated"): treated,
        (None, "holdout"): held,
        (None, "converted"): set(BUYERS) & treated,
        (None, "holdout_converted"): set(BUYERS) & held,
        ("mail-1", "sent"): treated,
        ("mail-1", "delivered"): treated,
        ("mail-1", "opened"): set(OPENERS) & treated,
        ("mail-3", "sent"): recipients(world, "mail-3"),
        ("mail-3", "opened"): set(),
        (None, "sent"): treated,  # every step's, summed: both mails
        (None, "opened"): set(OPENERS) & treated,
    }
    assert want[("mail-3", "sent")] == treated  # both mails reached the treated
    assert all(v for k, v in want.items() if k != ("mail-3", "opened"))  # not of nothings
    shown: dict[tuple[str | None, str], int] = {
        (None, "entered"): stats["entered"],
        (None, "treated"): stats["entered"] - stats["holdout"],
        (None, "holdout"): stats["holdout"],
        (None, "converted"): stats["converted"],
        (None, "holdout_converted"): stats["holdout_converted"],
        (None, "sent"): stats["sent"],
        (None, "opened"): stats["opened"],
        **{
            (step, metric): stats["steps"].get(step, {}).get(metric, 0)
            for step, metric in want
            if step is not None
        },
    }
    for (step, metric), people in want.items():
        params = {"metric": metric, **({"step": step} if step else {})}
        count, times, counted, ids = _customers(world, **params)

        # Then each lists exactly the people the test made do that, counted as often as
        # the stats count them (each treated person was sent both mails)
        each = 2 if (step, metric) == (None, "sent") else 1
        assert ids == sorted(people), params
        assert count == len(people), params
        assert times == counted == shown[(step, metric)] == each * len(people), params


def test_people_counted_before_their_copies_were_kept_are_said_apart(
    world: JourneyWorld, cloud: Cloud
) -> None:
    """Given three customers in a journey, one of whom entered before enrolments kept
    their own copy of their numbers (as on a shop upgraded with journeys running)
    When the "entered" count is drilled into
    Then the two are listed, and the answer says the stats count three."""
    for p in ("a-1", "a-2", "a-3"):
        world.customer(p)
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    table = cloud.settings.journeys_table
    copies = cloud.dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "PEOPLE#acme#drill"}},
    )["Items"]
    assert len(copies) == 3
    older = next(i for i in copies if i["customer_id"]["S"] == "a-2")
    cloud.dynamodb.delete_item(TableName=table, Key={"pk": older["pk"], "sk": older["sk"]})

    count, times, counted, ids = _customers(world, metric="entered")

    assert (ids, count, times, counted) == (["a-1", "a-3"], 2, 2, 3)
    assert world.stats("drill")["entered"] == 3


def test_a_journey_drill_down_names_what_is_wrong(world: JourneyWorld) -> None:
    # Given a journey one customer entered
    world.order("o-1")
    world.shipped("o-1")
    # When asked with a bad parameter, Then a 422 names it
    names_what_is_wrong(
        world.http,
        URL,
        world.auth,
        (
            ({"metric": "likes"}, "metric"),
            ({"metric": "entered", "step": "mail-1"}, "metric"),  # a journey's, with one
            ({"limit": 0}, "limit"),
            ({"cursor": "nope"}, "cursor"),
        ),
    )
    # And an unknown journey or step is a 404 naming it
    r = world.http.get("/v1/journeys/nope/customers", headers=world.auth)
    assert r.status_code == 404 and r.json()["error"]["fields"][0]["field"] == "journey_id"
    r = world.http.get(URL, params={"metric": "sent", "step": "mail-99"}, headers=world.auth)
    assert r.status_code == 404 and r.json()["error"]["fields"][0]["field"] == "step"
    # And with good ones, the one who entered
    r = world.http.get(URL, headers=world.auth)
    assert r.status_code == 200 and r.json()["customer_ids"] == ["c-1"]


def test_the_query_schema_names_every_metric_of_the_domain() -> None:
    # Given the query's written-out choices, Then they are the domain's
    assert set(JourneyMetric.__args__) == set(METRICS)  # type: ignore[attr-defined]
