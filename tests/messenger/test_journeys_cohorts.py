"""A journey's numbers per entry cohort (the month a person entered, shop time, and the
RFM rank the messenger held for them then), counted in the same transactions as the
journey's own counters, under moto with the simulated clock."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Cloud, ShopKeys
from tests.messenger.journey_world import JourneyWorld, post_purchase, step_mails_world


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    w = step_mails_world(cloud, shop)
    w.journey(post_purchase(journey_id="pp", holdout_percent=0))
    return w


def _enter(world: JourneyWorld, customer: str) -> None:
    world.customer(customer)
    world.order(f"o-{customer}", customer_id=customer)
    world.shipped(f"o-{customer}", customer_id=customer)


def test_a_persons_numbers_stay_in_the_cohort_they_entered_in(
    world: JourneyWorld, cloud: Cloud
) -> None:
    """Given a loyal customer and one without a rank entering the step mails
    When four days of mails go out, the loyal one is moved to dormant and then buys again
    for 5,000
    Then the stats count each person once in their entry month under the rank they
    entered with: two mails each, the loyal cohort with the conversion and its revenue
    (the rank change does not move it); the cohorts add up to the journey's totals, and
    the one version's cohorts are the journey's."""
    world.event("segment.entered", {"segment_id": "rfm_loyal", "customer_id": "a"})
    _enter(world, "a")
    _enter(world, "b")
    month = world.clock.now.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m")
    world.run_for(4)
    world.event("segment.exited", {"segment_id": "rfm_loyal", "customer_id": "a"})
    world.event("segment.entered", {"segment_id": "rfm_dormant", "customer_id": "a"})
    world.order("o-a-2", customer_id="a", n=2, total="5000")
    stats = world.stats("pp")
    by_rank = {c["rank"]: c for c in stats["cohorts"]}
    assert set(by_rank) == {"loyal", "unranked"}
    loyal, unranked = by_rank["loyal"], by_rank["unranked"]
    assert (loyal["month"], loyal["entered"], loyal["holdout"], loyal["sent"]) == (month, 1, 0, 2)
    assert loyal["sent_by_channel"] == {"email": 2}
    assert (loyal["converted"], float(loyal["revenue"])) == (1, 5000.0)
    assert (unranked["entered"], unranked["sent"], unranked["converted"]) == (1, 2, 0)
    assert stats["sent"] == loyal["sent"] + unranked["sent"] == 4
    assert stats["entered"] == 2 and float(stats["revenue"]) == 5000.0
    (version,) = stats["versions"]
    assert version["cohorts"] == stats["cohorts"]


def test_an_enrolment_from_before_cohorts_counts_in_the_totals_only(
    world: JourneyWorld, cloud: Cloud
) -> None:
    """Given a person who entered, whose enrolment is then as the messenger wrote it
    before it kept a rank (no `rank` attribute)
    When their mails go out
    Then the journey's totals count them and no cohort does: the cohorts say nothing
    they did not see (analytics shows the difference apart)."""
    _enter(world, "old")
    dynamodb = cloud.session.client("dynamodb")
    table = cloud.settings.journeys_table
    items = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "CUST#acme#old"}},
    )["Items"]
    (enrolment,) = [i for i in items if i["sk"]["S"].startswith("E#pp#")]
    assert enrolment["rank"] == {"S": "unranked"}
    dynamodb.update_item(
        TableName=table,
        Key={"pk": enrolment["pk"], "sk": enrolment["sk"]},
        UpdateExpression="REMOVE #r",
        ExpressionAttributeNames={"#r": "rank"},
    )
    world.run_for(4)
    stats = world.stats("pp")
    (cohort,) = stats["cohorts"]  # its entry, counted when it entered
    assert (cohort["entered"], cohort["sent"]) == (1, 0)
    assert (stats["entered"], stats["sent"]) == (1, 2)
