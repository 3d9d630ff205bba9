"""The overview's week tiles drill down to their customers (`GET /v1/deliveries/customers`):
who was sent, opened, clicked and converted by the campaigns scheduled in a week and by
the journeys in it, checked against what the test itself sent, opened, clicked and
bought, and `messages` against the tile's own sources (campaign results, journey weeks)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from messenger.domain.week import WEEK_METRICS, week_of
from messenger.entrypoints import events as messenger_events
from messenger.entrypoints.schemas import WeekMetric
from tests.conftest import Cloud, make_shop
from tests.messenger.drilldown import (
    backfilled,
    engaged,
    every_page,
    mail_of,
    names_what_is_wrong,
    recipients,
    world,
)
from tests.messenger.fakes import RecordingPublisher
from tests.messenger.journey_world import JourneyWorld, post_purchase
from tests.messenger.test_campaigns import CampaignWorld, _mail_only, cw

__all__ = ["cw", "world"]  # the campaigns' and the drilled journey's world fixtures, shared

URL = "/v1/deliveries/customers"
SOURCES = "/v1/deliveries/week"
NONE = dict.fromkeys(WEEK_METRICS, 0)


def _sources(http: httpx.Client, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    """The week tiles split by source (`GET /v1/deliveries/week`)."""
    r = http.get(SOURCES, params=params, headers=auth)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _week(http: httpx.Client, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    """Every page of one tile's drill-down (two ids a page): its numbers and all its ids."""
    numbers, ids = every_page(http, URL, auth, ("week", "count", "times", "messages"), 2, **params)
    return {**numbers, "ids": ids}


# ---------------------------------------------------------------- campaigns


@pytest.mark.parametrize("upgraded", [False, True], ids=["read-the-old-way", "partitions"])
def test_a_week_of_campaigns_lists_who_was_sent_opened_clicked_and_bought(
    cw: CampaignWorld, upgraded: bool
) -> None:
    # Given a shop backfilled last week (its week tiles read from their partitions) or not
    if upgraded:
        backfilled(cw.clock)
    # And five members of "vip" and a campaign sent to them this week
    people = [f"c-{i}" for i in range(1, 6)]
    _mail_only(cw, *people)
    cw.enter("vip", *people)
    cw.message(
        "spring",
        email={
            "subject": "春のセール",
            "html": '<p>{{ customer.last_name }}様</p><a href="https://shop.example/sale">見る</a>',
            "text": "https://shop.example/sale",
        },
        line=None,
        sms=None,
        coupon=None,
        recommendations=0,
    )
    cw.campaign(variants=[{"name": "A", "message_id": "spring"}], wave_interval_minutes=0)
    cw.tick()
    mails = {who: html for _, who, html in (mail_of(m.raw_data) for m in cw.mails())}
    assert sorted(mails) == people
    # And two open it, one more clicks its link (without loading the pixel), one buys
    opened, clicked, bought = {"c-1", "c-2"}, {"c-4"}, "c-4"
    for c in opened:
        pixel = mails[c].split('src="https://kizuna.test')[1].split('"')[0]
        assert cw.http.get(pixel).status_code == 200
    for c in clicked:
        click = mails[c].split('href="https://kizuna.test')[1].split('"')[0]
        assert cw.http.get(click, follow_redirects=False).status_code == 302
    order = {
        "order_id": "o-1",
        "customer": {"customer_id": bought, "email": f"{bought}@example.jp"},
        "placed_at": (cw.clock.now + timedelta(hours=1)).isoformat(),
        "currency": "JPY",
        "total": "5980",
        "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "5980"}],
        "order_count": 2,
        "is_first_order": False,
    }
    assert cw.event("order.placed", order)["attributed_to"] == "spring"
    total = cw.results()["total"]
    monday = week_of(cw.clock.now)

    # When each week tile is drilled into, this week's (no week named) and by its Monday
    who_did = {"sent": set(people), "opened": opened | clicked, "clicked": clicked}
    who_did["converted"] = {bought}
    for metric in WEEK_METRICS:
        this_week = _week(cw.http, cw.auth, metric=metric)
        named = _week(cw.http, cw.auth, metric=metric, week=monday.isoformat())

        # Then both are the people the test made do it, one message each, and `messages`
        # is the number the tile adds up (the campaign's results)
        assert this_week == named
        assert named["week"] == monday.isoformat()
        assert named["ids"] == sorted(who_did[metric]), metric
        assert named["count"] == named["times"] == len(who_did[metric]), metric
        assert named["messages"] == total[metric] == len(who_did[metric]), metric

    # And the week split by source (this week's, and by its Monday) is that campaign with
    # what the test made happen, every tile at once, and no journey; the people behind
    # each tile counted as they were reached in a backfilled shop (none before the mark)
    split = _sources(cw.http, cw.auth, week=monday.isoformat())
    assert split == _sources(cw.http, cw.auth)
    numbers = {m: len(who_did[m]) for m in WEEK_METRICS}
    assert split == {
        "week": monday.isoformat(),
        "campaigns": [{"campaign_id": "spring", **numbers}],
        "journeys": NONE,
        "journey_rows": [],
        "people": numbers if upgraded else None,
    }

    # And the week after (the campaign was scheduled in this one) lists no one
    later = _week(cw.http, cw.auth, metric="sent", week=(monday + timedelta(days=7)).isoformat())
    assert (later["count"], later["messages"], later["ids"]) == (0, 0, [])
    after = _sources(cw.http, cw.auth, week=(monday + timedelta(days=7)).isoformat())
    assert (after["campaigns"], after["journeys"]) == ([], NONE)


def test_a_week_drill_down_names_what_is_wrong(cw: CampaignWorld) -> None:
    # Given the shop's key, When asked with a bad parameter, Then a 422 names it
    names_what_is_wrong(
        cw.http,
        URL,
        cw.auth,
        (
            ({"metric": "likes"}, "metric"),
            ({"metric": "delivered"}, "metric"),
            ({"week": "2026-11-24"}, "week"),  # a Tuesday
            ({"week": "next"}, "week"),
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
            ({"cursor": "nope"}, "cursor"),
        ),
    )


def test_a_week_split_names_what_is_wrong(cw: CampaignWorld) -> None:
    # Given the shop's key, When the week split is asked for a bad week, Then a 422 names it
    names_what_is_wrong(
        cw.http, SOURCES, cw.auth, (({"week": "2026-11-24"}, "week"), ({"week": "next"}, "week"))
    )


def test_the_query_schema_names_every_week_metric_of_the_domain() -> None:
    # Given the query's written-out choices, Then they are the domain's
    assert set(WeekMetric.__args__) == set(WEEK_METRICS)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- journeys

PEOPLE = [f"p-{i:02d}" for i in range(12)]
BUYERS = PEOPLE[::4]
OPENERS = PEOPLE[1::3]


@pytest.mark.parametrize("upgraded", [False, True], ids=["read-the-old-way", "partitions"])
def test_a_week_of_a_journey_lists_its_people_and_how_often_each_was_counted(
    world: JourneyWorld, upgraded: bool
) -> None:
    # Given a shop backfilled last week (its week tiles read from their partitions) or not
    if upgraded:
        backfilled(world.clock)
    # And twelve first-time buyers entering a journey with a 50 % holdout on a Monday,
    # two step mails going out to the treated that week, some of the first ones opened
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
    # And every fourth of them ordering again that week (the journey's goal)
    for p in BUYERS:
        world.order(f"o2-{p}", customer_id=p, n=2)
    treated = recipients(world, "mail-1")
    assert treated == recipients(world, "mail-3") and 0 < len(treated) < len(PEOPLE)
    monday = week_of(world.clock.now)
    tile = next(w for w in world.stats("drill")["weeks"] if w["week"] == monday.isoformat())

    # When each week tile is drilled into
    want = {
        "sent": (treated, 2),  # both mails
        "opened": (set(OPENERS) & treated, 1),
        "clicked": (set[str](), 1),
        "converted": (set(BUYERS) & treated, 1),
    }
    for metric, (people, each) in want.items():
        found = _week(world.http, world.auth, metric=metric, week=monday.isoformat())

        # Then it lists exactly those people, counted as often as they were mailed, and
        # `messages` is the journey's number for that week (what the tile adds up)
        assert found["ids"] == sorted(people), metric
        assert found["count"] == len(people), metric
        assert found["times"] == found["messages"] == tile[metric] == each * len(people), metric

    # And the week split by source is the journey's numbers of that week, no campaign
    split = _sources(world.http, world.auth, week=monday.isoformat())
    assert split["campaigns"] == []
    assert split["journeys"] == {m: each * len(p) for m, (p, each) in want.items()}
    assert split["journeys"] == {m: tile[m] for m in WEEK_METRICS}


@pytest.mark.parametrize("upgraded", [False, True], ids=["read-the-old-way", "partitions"])
def test_another_shop_sees_none_of_a_week(
    world: JourneyWorld, cloud: Cloud, upgraded: bool
) -> None:
    # Given two shops, both backfilled last week or neither
    other = make_shop(cloud, "globex")
    if upgraded:
        for shop_id in ("acme", "globex"):
            backfilled(world.clock, shop_id=shop_id)
    # And a journey of shop acme that mailed two people this week
    for p in ("p-1", "p-2"):
        world.customer(p)
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    world.journey(post_purchase(journey_id="all-in", holdout_percent=0, exit_events=[]))
    world.run_for(2)
    mine = _week(world.http, world.auth, metric="sent")
    assert mine["count"] > 0
    # When another shop's reader asks for the same week
    found = _week(world.http, other.header(other.reader), metric="sent")
    # Then it sees no one of acme's
    assert (found["count"], found["messages"], found["ids"]) == (0, 0, [])
    assert mine["week"] == found["week"]
    # And its week split holds none of acme's numbers
    assert _sources(world.http, world.auth)["journeys"]["sent"] == mine["messages"] > 0
    theirs = _sources(world.http, other.header(other.reader))
    assert (theirs["campaigns"], theirs["journeys"]) == ([], NONE)


def _counted(client: Any, page: Any) -> list[str]:
    """The DynamoDB calls `page()` makes (their operation names, in order)."""
    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    client.meta.events.register("before-call.dynamodb", count)
    try:
        page()
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)
    return calls


def test_a_week_page_reads_the_weeks_campaigns_records_and_no_other_campaigns(
    cw: CampaignWorld,
) -> None:
    # Given a campaign mailed to three customers this week, its page's DynamoDB calls counted
    _mail_only(cw, "c-1", "c-2", "c-3")
    cw.enter("vip", "c-1", "c-2", "c-3")
    cw.message("spring", email={"subject": "春", "html": "<p>春</p>", "text": "春"}, line=None)
    cw.campaign(variants=[{"name": "A", "message_id": "spring"}], wave_interval_minutes=0)
    cw.tick()
    client = getattr(cw.container.adapters.campaign_repo, "_client")  # noqa: B009

    def page() -> None:
        r = cw.http.get(URL, params={"metric": "sent"}, headers=cw.auth)
        assert r.status_code == 200, r.text
        assert r.json()["count"] == 3

    before = _counted(client, page)
    # When ten more campaigns are scheduled for next week, and the page is read again,
    # before the backfill and after it (run last week: this week's partition is whole)
    later = cw.clock.now + timedelta(days=7)
    for n in range(10):
        cw.campaign(
            campaign_id=f"later-{n}",
            scheduled_at=later.isoformat(),
            variants=[{"name": "A", "message_id": "spring"}],
        )
    old = _counted(client, page)
    backfilled(cw.clock)
    new = _counted(client, page)

    # Then no other campaign's records are read either way, in three Queries: the old way
    # the campaign list (one query page), this week's campaign's records and the journeys'
    # heads; from the partitions the week's campaigns, their records and the week's shares
    # (and the key's BatchGetItem, and the GetItem of the first whole week, either way);
    # then the people mark, and once the week is marked, one Query of its people counts
    assert old == before == ["BatchGetItem", "GetItem", "Query", "Query", "Query", "GetItem"]
    assert new == [*old, "Query"], new


def test_a_week_split_reads_the_weeks_campaigns_and_no_other_campaigns(
    cw: CampaignWorld,
) -> None:
    # Given a campaign mailed to three customers this week and a hundred and ten more
    # scheduled for next week (the campaign list's second page), on a backfilled shop
    _mail_only(cw, "c-1", "c-2", "c-3")
    cw.enter("vip", "c-1", "c-2", "c-3")
    cw.message("spring", email={"subject": "春", "html": "<p>春</p>", "text": "春"}, line=None)
    cw.campaign(variants=[{"name": "A", "message_id": "spring"}], wave_interval_minutes=0)
    cw.tick()
    later = cw.clock.now + timedelta(days=7)
    for n in range(110):
        cw.campaign(
            campaign_id=f"later-{n:03d}",
            scheduled_at=later.isoformat(),
            variants=[{"name": "A", "message_id": "spring"}],
        )
    client = getattr(cw.container.adapters.campaign_repo, "_client")  # noqa: B009

    def split() -> None:
        body = _sources(cw.http, cw.auth)
        assert [c["campaign_id"] for c in body["campaigns"]] == ["spring"]
        assert body["campaigns"][0]["sent"] == 3

    # When the split is read before the backfill and after it (run last week)
    old = _counted(client, split)
    backfilled(cw.clock)
    new = _counted(client, split)

    # Then the old way reads every page of the campaign list (two) and the campaign's
    # records; the partitions only this week's campaigns and their figures (one
    # BatchGetItem), no record; no other campaign's either way (and the two marks, the
    # week's journey totals and the journeys' names; then the people mark, and in a
    # marked week one Query of the week's people counts)
    totals_names_people = ["Query", "Query", "GetItem"]
    assert old == ["BatchGetItem", "GetItem", "Query", "Query", "GetItem", *totals_names_people]
    assert new == [
        *["BatchGetItem", "GetItem", "Query", "GetItem", "BatchGetItem"],
        *totals_names_people,
        "Query",
    ], new


def test_a_week_page_costs_the_same_however_many_journeys_counted_in_it(
    world: JourneyWorld,
) -> None:
    # Given two journeys that mailed four people this week, a page's DynamoDB calls counted
    world.journey(post_purchase(journey_id="all-in", holdout_percent=0, exit_events=[]))
    for p in PEOPLE[:4]:
        world.customer(p)
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    world.run_for(2)
    client = getattr(world.container.adapters.campaign_repo, "_client")  # noqa: B009

    def page() -> None:
        r = world.http.get(URL, params={"metric": "sent", "limit": 2}, headers=world.auth)
        assert r.status_code == 200, r.text
        assert r.json()["count"] == 4

    # When a page is read the old way, and from the partitions (the backfill run last week)
    old = _counted(client, page)
    backfilled(world.clock)
    new = _counted(client, page)

    # Then the old way reads the campaign list and the heads, and per journey its
    # counters and all its people; the partitions one Query of the week's campaigns and
    # one of its journey shares and totals, whatever the number of journeys (and the
    # people mark, and in a marked week one Query of the week's people counts)
    assert old.count("Query") == 2 + 2 * 2, old
    assert new == ["BatchGetItem", "GetItem", "Query", "Query", "GetItem", "Query"], new


def _read(client: Any, page: Any) -> list[str]:
    """The sort keys of the items the Queries `page()` makes return."""
    keys: list[str] = []

    def returned(parsed: dict[str, Any], **_: Any) -> None:
        keys.extend(str(i["sk"]["S"]) for i in parsed.get("Items", []))

    client.meta.events.register("after-call.dynamodb.Query", returned)
    try:
        page()
    finally:
        client.meta.events.unregister("after-call.dynamodb.Query", returned)
    return keys


def test_a_week_split_reads_the_journeys_totals_and_none_of_their_shares(
    world: JourneyWorld,
) -> None:
    # Given a backfilled shop whose journey mailed four people this week
    backfilled(world.clock)
    for p in PEOPLE[:4]:
        world.customer(p)
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    world.run_for(2)
    client = getattr(world.container.adapters.campaign_repo, "_client")  # noqa: B009
    tile = _week(world.http, world.auth, metric="sent")
    assert tile["count"] > 0

    def split() -> None:
        assert _sources(world.http, world.auth)["journeys"]["sent"] == tile["messages"]

    # When the week split is read
    keys = _read(client, split)

    # Then its Queries returned the week's total shards (and the journeys' heads, for
    # their names, and the week's people count shards, `<metric>#<shard>`) and no
    # enrolment's share
    people = tuple(f"{m}#" for m in WEEK_METRICS)
    assert keys and all(k.startswith(("T#", "JOURNEY#", *people)) for k in keys), keys
    assert any(k.startswith("T#") for k in keys), keys
    assert any(k.startswith(people) for k in keys), keys


def test_a_week_counted_before_the_backfill_is_read_the_old_way_and_later_weeks_whole(
    world: JourneyWorld, cloud: Cloud
) -> None:
    # Given four people mailed by the journey this week by code that kept no week shares
    # (the week partition removed, as on a shop upgraded mid-week)
    for p in PEOPLE[:4]:
        world.customer(p)
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    world.run_for(2)
    monday = week_of(world.clock.now)
    table = cloud.settings.journeys_table
    week_pk = {":pk": {"S": f"WEEK#acme#{monday.isoformat()}"}}
    shares = cloud.dynamodb.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues=week_pk
    )["Items"]
    assert {i["sk"]["S"][:2] for i in shares} == {"P#", "T#"}
    for item in shares:
        cloud.dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})

    # When the backfill runs this week, and the rest of the week's mails and the next
    # week's go out
    since = backfilled(world.clock, weeks_ago=0)
    world.run_for(8)
    weeks = {w["week"]: w["sent"] for w in world.stats("drill")["weeks"]}

    # Then this week (before the first whole one) is read the old way: everyone mailed,
    # as often as the journey counted
    assert since == monday + timedelta(days=7)
    this = _week(world.http, world.auth, metric="sent", week=monday.isoformat())
    treated = recipients(world, "mail-1")
    assert this["ids"] == sorted(treated) and len(treated) > 0
    assert this["times"] == this["messages"] == weeks[monday.isoformat()], this
    # And the next week, from its partition, lists who its mail went to, as often
    later = _week(world.http, world.auth, metric="sent", week=since.isoformat())
    assert later["ids"] == sorted(recipients(world, "mail-7")) == sorted(treated)
    assert later["times"] == later["messages"] == weeks[since.isoformat()] > 0, later


def test_the_backfill_lists_a_campaign_made_before_it_under_its_week(cw: CampaignWorld) -> None:
    # Given a campaign for next week made before the week index (its week entry removed)
    _mail_only(cw, "c-1", "c-2")
    cw.enter("vip", "c-1", "c-2")
    cw.message("spring", email={"subject": "春", "html": "<p>春</p>", "text": "春"}, line=None)
    later = cw.clock.now + timedelta(days=7)
    cw.campaign(scheduled_at=later.isoformat(), variants=[{"name": "A", "message_id": "spring"}])
    table, monday = cw.cloud.settings.messenger_table, week_of(later).isoformat()
    entry = {"pk": {"S": "SHOP#acme"}, "sk": {"S": f"WEEK#{monday}#CAMPAIGN#spring"}}
    assert cw.cloud.dynamodb.delete_item(TableName=table, Key=entry, ReturnValues="ALL_OLD")[
        "Attributes"
    ]
    # When the backfill runs this week, and the campaign goes out next week
    since = backfilled(cw.clock, weeks_ago=0)
    cw.clock.now = later + timedelta(minutes=1)
    cw.tick()
    # Then its week (the first whole one) lists the two it was sent to
    assert since.isoformat() == monday
    found = _week(cw.http, cw.auth, metric="sent", week=monday)
    assert (found["ids"], found["messages"]) == (["c-1", "c-2"], 2)
