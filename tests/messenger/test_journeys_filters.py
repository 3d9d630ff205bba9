"""Entry and flow filters in the segment rule language, whole: checked when saved (a 422
naming the JSON path), judged on the profile by the segmenter, and the flow filter
asked again before every send."""

from __future__ import annotations

import pytest

from tests.conftest import Cloud, ShopKeys
from tests.messenger.journey_world import JourneyWorld, post_purchase, step_mails_world


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    return step_mails_world(cloud, shop)


@pytest.mark.parametrize(
    ("key", "rule", "path"),
    [
        (
            "entry_filter",
            {"all": [{"field": "revenue", "op": "contains", "value": 1}]},
            "entry_filter.all[0].op",
        ),
        (
            "flow_filter",
            {"not": {"activity": "viewed", "within_days": 9999}},
            "flow_filter.not.within_days",
        ),
        ("flow_filter", {"field": "no_such_field", "op": "eq", "value": 1}, "flow_filter.field"),
    ],
)
def test_a_bad_segment_rule_is_a_422_naming_its_path(
    world: JourneyWorld, key: str, rule: object, path: str
) -> None:
    """Given a journey whose filter breaks the segment rule language
    When it is validated
    Then the answer is a 422 naming the JSON path of the bad node."""
    r = world.http.post(
        "/v1/journeys/validate", json=post_purchase(**{key: rule}), headers=world.auth
    )
    assert r.status_code == 422, r.text
    assert [f["field"] for f in r.json()["error"]["fields"]] == [path]


def test_the_flow_filter_is_asked_again_before_every_send(world: JourneyWorld) -> None:
    """Given the step mails for first orders of people who bought skincare and are not
    tagged `complained` (segment rules, judged on the profile)
    When the person gets the first three mails, and is then tagged `complained`
    Then the next send finds the flow filter failing: no more mails, the exit counted as
    `flow_filter`, and the segmenter was asked once per entry and send, never more."""
    world.profiles.fields["c-1"] = {"categories": frozenset({"skincare"}), "tags": frozenset()}
    world.journey(
        post_purchase(
            entry_filter={
                "all": [
                    {"field": "order.is_first_order", "op": "eq", "value": True},
                    {"field": "categories", "op": "contains", "value": "skincare"},
                ]
            },
            flow_filter={"not": {"field": "tags", "op": "contains", "value": "complained"}},
        )
    )
    world.order("o-1")
    world.shipped("o-1")
    world.run_for(6)
    assert len(world.journey_mails()) == 3
    assert world.profiles.asked == 1 + 3

    world.profiles.fields["c-1"]["tags"] = frozenset({"complained"})
    world.run_for(30)

    assert len(world.journey_mails()) == 3
    stats = world.stats()
    assert stats["exited"] == {"flow_filter": 1}
    assert world.profiles.asked == 1 + 3 + 1


def test_an_entry_filter_on_the_profile_keeps_people_out(world: JourneyWorld) -> None:
    """Given step mails only for people whose profile says they bought skincare
    When someone who never did ships a first order
    Then they are not enrolled."""
    world.profiles.fields["c-1"] = {"categories": frozenset({"haircare"})}
    world.journey(
        post_purchase(entry_filter={"field": "categories", "op": "contains", "value": "skincare"})
    )
    world.order("o-1")
    world.shipped("o-1")
    world.run_for(2)
    assert world.stats()["entered"] == 0
    assert world.journey_mails() == []
