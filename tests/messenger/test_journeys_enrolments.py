"""A segment's members put into a journey on demand (`POST /v1/journeys/{id}/enrolments`),
the console's "put them into a journey": over real HTTP, on moto, mail through moto's SES."""

from __future__ import annotations

from typing import Any

import pytest

from messenger.services.journeys import enrolments
from tests.conftest import Cloud, ShopKeys, make_shop
from tests.messenger.journey_world import JourneyWorld

MEMBERS = ("c-1", "c-2", "c-3")


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    w = JourneyWorld(cloud, shop)
    for c in (*MEMBERS, "c-9"):
        w.customer(c)
    w.message("lapsed")
    for c in MEMBERS:  # the console saved them as the segment `r1-f3`
        w.event("segment.entered", {"segment_id": "r1-f3", "customer_id": c})
    w.journey(
        {
            "journey_id": "lapsed",
            "name": "Lapsed",
            "trigger": {"segment": "dormant"},
            "start": "mail",
            "steps": {"mail": {"type": "send", "message_id": "lapsed"}},
        }
    )
    return w


def enrol(world: JourneyWorld, journey_id: str = "lapsed", **body: Any) -> Any:
    return world.http.post(
        f"/v1/journeys/{journey_id}/enrolments",
        json={"segment_id": "r1-f3", **body},
        headers=world.auth,
    )


def test_a_segments_members_enter_a_segment_triggered_journey_once(world: JourneyWorld) -> None:
    """Given three customers in the segment r1-f3 and a journey triggered by entering
    `dormant`, which none of them entered
    When the marketer puts r1-f3 into the journey, twice
    Then each of the three entered and got its first mail at once, nobody else did, and
    the second call put nobody in and sent nothing."""
    first = enrol(world)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "journey_id": "lapsed",
        "segment_id": "r1-f3",
        "entered": 3,
        "not_entered": 0,
        "next_after": None,
    }
    for c in MEMBERS:
        assert [t for t, _ in world.journey_mails(c)] == ["journey:lapsed:mail"], c
    assert world.journey_mails("c-9") == []
    assert world.stats("lapsed")["entered"] == 3

    again = enrol(world)
    assert again.status_code == 200, again.text
    assert (again.json()["entered"], again.json()["not_entered"]) == (0, 3)
    for c in MEMBERS:
        assert len(world.journey_mails(c)) == 1, c
    assert world.stats("lapsed")["entered"] == 3


def test_a_large_segment_enters_a_page_at_a_time(
    world: JourneyWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given pages of two members
    When the marketer enrols r1-f3 and follows `next_after`
    Then the first call took c-1 and c-2, the second c-3 and said nothing follows."""
    monkeypatch.setattr(enrolments, "PAGE", 2)
    first = enrol(world).json()
    assert (first["entered"], first["next_after"]) == (2, "c-2")
    second = enrol(world, after=first["next_after"]).json()
    assert (second["entered"], second["next_after"]) == (1, None)
    assert [t for t, _ in world.journey_mails("c-3")] == ["journey:lapsed:mail"]


def test_only_an_active_segment_triggered_journey_of_the_shop_takes_people(
    world: JourneyWorld, cloud: Cloud
) -> None:
    """Given an event-triggered journey, an unknown segment, another shop's key, and the
    journey paused
    Then each call is refused with a 4xx naming the field, and nobody entered."""
    world.journey(
        {
            "journey_id": "cart",
            "name": "Cart",
            "trigger": {"event": "cart.updated", "key": "cart_id"},
            "start": "mail",
            "steps": {"mail": {"type": "send", "message_id": "lapsed"}},
        }
    )
    refused = [
        (enrol(world, "cart"), 422, "journey_id"),
        (enrol(world, "nope"), 404, "journey_id"),
        (enrol(world, segment_id="no-such-segment"), 404, "segment_id"),
        (enrol(world, segment_id=""), 422, "segment_id"),
    ]
    other = make_shop(cloud, "other")
    refused.append(
        (
            world.http.post(
                "/v1/journeys/lapsed/enrolments",
                json={"segment_id": "r1-f3"},
                headers=other.header(other.admin),
            ),
            404,
            "journey_id",
        )
    )
    assert world.http.post("/v1/journeys/lapsed/pause", headers=world.auth).is_success
    refused.append((enrol(world), 409, "status"))
    for response, status, field in refused:
        assert response.status_code == status, response.text
        assert response.json()["error"]["fields"][0]["field"] == field, response.text
    assert world.stats("lapsed")["entered"] == 0
    assert all(world.journey_mails(c) == [] for c in MEMBERS)


def test_a_persons_journeys_are_listed_newest_first(world: JourneyWorld, cloud: Cloud) -> None:
    """Given c-1 put into the journey `lapsed` with its segment
    When the profile asks for c-1's journeys, c-9's, and another shop's for c-1
    Then c-1 has one, completed after its one mail step, c-9 none, and the other shop
    sees none of acme's."""
    assert enrol(world).status_code == 200
    r = world.http.get("/v1/journeys/enrolments?customer_id=c-1", headers=world.auth)
    assert r.status_code == 200, r.text
    (enrolment,) = r.json()
    assert enrolment["journey_id"] == "lapsed" and enrolment["version"] == 1
    assert enrolment["status"] == "completed"
    assert enrolment["entered_at"] == "2026-11-23T03:00:00Z"
    nobody = world.http.get("/v1/journeys/enrolments?customer_id=c-9", headers=world.auth)
    assert nobody.json() == []
    other = make_shop(cloud, "other")
    elsewhere = world.http.get(
        "/v1/journeys/enrolments?customer_id=c-1", headers=other.header(other.admin)
    )
    assert elsewhere.status_code == 200 and elsewhere.json() == []
    missing = world.http.get("/v1/journeys/enrolments", headers=world.auth)
    assert missing.status_code == 422
    assert missing.json()["error"]["fields"][0]["field"] == "customer_id"
