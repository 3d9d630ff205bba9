"""Every event type a journey may name reaches the journey intake, and one it never would
is refused when the journey is saved: a trigger, exit, goal or wait on an event the
engine never hears would be accepted and silently never fire."""

from __future__ import annotations

from typing import Any

import pytest

from messenger.entrypoints import events as messenger_events
from messenger.services.journeys.book import EVENT_TYPES, JOURNEY_EVENTS, NOT_HEARD
from ops.local.template import functions, load_template
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from tests.conftest import TEMPLATE, Cloud, ShopKeys
from tests.messenger.fakes import RecordingPublisher
from tests.messenger.journey_world import STEP_DAYS, JourneyWorld, post_purchase, step_mails_world


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    return step_mails_world(cloud, shop)


def _deliver(envelope: EventEnvelope) -> dict[str, Any]:
    return messenger_events.handler({"detail": envelope.model_dump(mode="json")}, None)


def test_every_event_a_journey_may_name_is_delivered_to_the_messenger() -> None:
    """Given the template's rules into the messenger's events function and its routes
    Then every type a journey may name is delivered by a rule and routed by the handler,
    and the types it may not name are exactly those no journey hears."""
    (messenger,) = [
        f for f in functions(load_template(TEMPLATE)) if f.logical_id == "MessengerEventsFunction"
    ]
    delivered = {t for rule in messenger.rules for t in rule.pattern["detail-type"]}
    assert delivered >= JOURNEY_EVENTS, sorted(JOURNEY_EVENTS - delivered)
    assert JOURNEY_EVENTS | NOT_HEARD == EVENT_TYPES
    for kind in ("profile.tagged", "consent.withdrawn"):
        assert kind in messenger_events.JOURNEY_ONLY_EVENTS


REFUSED = [
    (
        "a trigger on a send request",
        lambda b: b["trigger"].update(event="message.requested"),
        "trigger.event",
    ),
    (
        "an exit on an erasure",
        lambda b: b.update(exit_events=["customer.erased"]),
        "exit_events[0]",
    ),
    (
        "an exit on a SKU's stock",
        lambda b: b.update(exit_events=["order.placed", "inventory.changed"]),
        "exit_events[1]",
    ),
    (
        "a wait for a SKU's stock",
        lambda b: b["steps"].update(
            {
                "wait-1": {
                    "type": "wait_event",
                    "event": "inventory.changed",
                    "days": 1,
                    "next": "mail-1",
                    "timeout_next": "mail-1",
                }
            }
        ),
        "steps.wait-1.event",
    ),
    (
        "a goal on a shop-wide refresh",
        lambda b: b.update(goal={"event": "analytics.refresh_requested", "days": 7}),
        "goal.event",
    ),
]


@pytest.mark.parametrize(("what", "change", "path"), REFUSED, ids=[r[0] for r in REFUSED])
def test_an_event_journeys_never_hear_is_a_422_naming_the_path(
    world: JourneyWorld, what: str, change: Any, path: str
) -> None:
    """Given the step mails naming an event the messenger never hands the journeys
    When it is validated or created over HTTP
    Then both answer 422 naming the JSON path, and nothing is saved."""
    for day in STEP_DAYS:
        world.message(f"step-{day}")
    body = post_purchase()
    change(body)
    for route in ("/v1/journeys/validate", "/v1/journeys"):
        r = world.http.post(route, json=body, headers=world.auth)
        assert r.status_code == 422, (what, r.text)
        assert path in r.text, (what, r.text)
    assert world.http.get("/v1/journeys", headers=world.auth).json() == []


def test_a_tag_starts_a_journey_and_an_unsubscribe_ends_one(world: JourneyWorld) -> None:
    """Given a journey that tags a shipped customer `vip`, a second journey that starts
    on the tag `vip` (a welcome to the club a day later), and a third that waits a week,
    ended by an unsubscribe
    When an order ships, the messenger hears its own `profile.tagged`, a day passes, and
    then it hears the person's `consent.withdrawn`
    Then the tag enrolled the person in the club journey, whose mail went out; the
    unsubscribe ended the third journey, counted as its exit reason."""
    world.message("club-1")
    world.journey(
        {
            "journey_id": "tagger",
            "name": "Tag the shipped",
            "trigger": {"event": "order.shipped", "key": "order_id"},
            "start": "tag",
            "steps": {"tag": {"type": "tag", "tag": "vip"}},
        }
    )
    world.journey(
        {
            "journey_id": "club",
            "name": "Club welcome",
            "trigger": {"event": "profile.tagged", "key": "tag"},
            "entry_filter": {"field": "event.tag", "op": "eq", "value": "vip"},
            "start": "wait",
            "steps": {
                "wait": {"type": "wait", "days": 1, "next": "mail"},
                "mail": {"type": "send", "message_id": "club-1"},
            },
            "reentry": {"mode": "per_key"},
        }
    )
    world.journey(
        {
            "journey_id": "slow",
            "name": "A week later",
            "trigger": {"event": "order.shipped", "key": "order_id"},
            "start": "wait",
            "steps": {
                "wait": {"type": "wait", "days": 7, "next": "mail"},
                "mail": {"type": "send", "message_id": "step-7"},
            },
            "exit_events": ["consent.withdrawn"],
        }
    )
    recorder = RecordingPublisher()
    world.use(publisher=recorder)
    world.shipped("o-1")
    (tagged,) = [e for e in recorder.published if e.type == "profile.tagged"]

    assert _deliver(tagged)["journeys"] == {"entered": ["club"]}
    world.run_for(1.5)
    assert [t for t, _ in world.journey_mails()] == ["journey:club:mail"]

    withdrawn = details.ConsentWithdrawn(
        customer_id="c-1",
        channel="all",
        category="marketing",
        withdrawn_at=world.clock.now,
    )
    envelope = EventEnvelope(
        id="unsub-1",
        shop="acme",
        type="consent.withdrawn",
        time=world.clock.now,
        detail=withdrawn.model_dump(mode="json"),
    )
    assert _deliver(envelope)["journeys"] == {"exited": ["slow"]}
    assert world.stats("slow")["exited"] == {"event:consent.withdrawn": 1}
