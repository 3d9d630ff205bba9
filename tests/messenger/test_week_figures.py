"""The overview's week table (`GET /v1/deliveries/week`) from counted figures: each
campaign's sends, opens, clicks and conversions counted as they happened (in the
transaction that writes each record's time), checked against the campaign's recipient
records read by the test itself, through repeated opens, clicks, orders and a re-run
page; the same requests whether a campaign reached two people or forty; and each
journey on its own row, by name, adding up to the journeys' sum."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from messenger.adapters.campaigns import DynamoCampaignRepository
from messenger.domain.campaign import Campaign
from messenger.domain.week import WEEK_METRICS, week_of
from tests.conftest import Cloud
from tests.messenger.drilldown import backfilled, mail_of, world
from tests.messenger.journey_world import JourneyWorld, post_purchase
from tests.messenger.test_campaigns import CampaignWorld, _mail_only, cw
from tests.messenger.test_week_drilldown import PEOPLE, SOURCES, _counted, _read

__all__ = ["cw", "world"]  # the campaigns' and the drilled journey's world fixtures, shared


def _split(http: Any, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    r = http.get(SOURCES, params=params, headers=auth)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _records_say(cloud: Cloud, campaign_id: str) -> dict[str, int]:
    """The week figures of a campaign counted by the test from its recipient records in
    DynamoDB (one per person sent; a click is an open too), not by any code under test."""
    items = cloud.dynamodb.query(
        TableName=cloud.settings.messenger_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :r)",
        ExpressionAttributeValues={
            ":pk": {"S": f"CAMPAIGN#acme#{campaign_id}"},
            ":r": {"S": "R#"},
        },
    )["Items"]
    return {
        "sent": len(items),
        "opened": sum(1 for i in items if "opened_at" in i or "clicked_at" in i),
        "clicked": sum(1 for i in items if "clicked_at" in i),
        "converted": sum(1 for i in items if "converted_at" in i),
    }


def _spring(cw: CampaignWorld, *people: str, campaign_id: str = "spring", **body: Any) -> None:
    """A mail campaign to `people` (the message made with the first one)."""
    _mail_only(cw, *people)
    cw.enter("vip", *people)
    if campaign_id == "spring":
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
    cw.campaign(
        campaign_id=campaign_id,
        variants=[{"name": "A", "message_id": "spring"}],
        wave_interval_minutes=0,
        **body,
    )


def _order(cw: CampaignWorld, order_id: str, customer_id: str) -> dict[str, Any]:
    return cw.event(
        "order.placed",
        {
            "order_id": order_id,
            "customer": {"customer_id": customer_id, "email": f"{customer_id}@example.jp"},
            "placed_at": (cw.clock.now + timedelta(hours=1)).isoformat(),
            "currency": "JPY",
            "total": "5980",
            "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "5980"}],
            "order_count": 2,
            "is_first_order": False,
        },
    )


def test_a_campaigns_week_figures_are_its_records_however_often_each_event_came(
    cw: CampaignWorld,
) -> None:
    # Given a shop backfilled last week (its week table read from counted figures)
    backfilled(cw.clock)
    # And a campaign to six people whose page was sent, then run again after a crash
    people = [f"c-{i}" for i in range(1, 7)]
    _spring(cw, *people)
    repo = cw.container.adapters.campaign_repo
    assert isinstance(repo, DynamoCampaignRepository)

    class DiesOnce(DynamoCampaignRepository):
        died = False

        def save_progress(self, before: Campaign, after: Campaign) -> bool:
            if after.cursor is not None and not DiesOnce.died:
                DiesOnce.died = True
                raise SystemExit("Lambda timed out after sending the page")
            return super().save_progress(before, after)

    cw.use(campaign_repo=DiesOnce(repo._client, repo._table, cw.cloud.settings.journeys_table))
    with pytest.raises(SystemExit):
        cw.tick()
    cw.tick()
    cw.tick()
    mails = {who: html for _, who, html in (mail_of(m.raw_data) for m in cw.mails())}
    assert sorted(mails) == people and len(cw.mails()) == 6

    def pixel(c: str) -> None:
        path = mails[c].split('src="https://kizuna.test')[1].split('"')[0]
        assert cw.http.get(path).status_code == 200

    def click(c: str) -> None:
        path = mails[c].split('href="https://kizuna.test')[1].split('"')[0]
        assert cw.http.get(path, follow_redirects=False).status_code == 302

    # When c-1 opens twice then clicks twice, c-2 clicks twice then opens, c-3 opens once,
    # c-4's order arrives twice and a second order after it, c-5 clicks and orders
    for act in (pixel, pixel, click, click):
        act("c-1")
    for act in (click, click, pixel):
        act("c-2")
    pixel("c-3")
    pixel("c-4")
    assert _order(cw, "o-1", "c-4")["attributed_to"] == "spring"
    assert _order(cw, "o-1", "c-4").get("attributed_to") is None
    assert _order(cw, "o-2", "c-4")["attributed_to"] == "spring"
    click("c-5")
    assert _order(cw, "o-3", "c-5")["attributed_to"] == "spring"
    split = _split(cw.http, cw.auth)

    # Then the week's figures are what the records say, each person counted once
    said = _records_say(cw.cloud, "spring")
    assert said == {"sent": 6, "opened": 5, "clicked": 3, "converted": 2}
    assert split["campaigns"] == [{"campaign_id": "spring", **said}]
    # And so are the people behind each tile (one record a person), counted once each
    assert split["people"] == said
    # And the campaign's own results (from the same records) agree
    total = cw.results()["total"]
    assert {m: total[m] for m in WEEK_METRICS} == said


def test_the_week_table_makes_the_same_requests_for_forty_people_as_for_two(
    cw: CampaignWorld,
) -> None:
    # Given a backfilled shop whose campaign reached two people this week
    backfilled(cw.clock)
    _spring(cw, "c-1", "c-2")
    cw.tick()
    client = getattr(cw.container.adapters.campaign_repo, "_client")  # noqa: B009
    week = week_of(cw.clock.now)
    few: dict[str, Any] = {}

    def read_few() -> None:
        few.update(_split(cw.http, cw.auth, week=week.isoformat()))

    two = _counted(client, read_few)
    keys_two = _read(client, read_few)
    # And another campaign next week that reached forty
    crowd = [f"p-{i:02d}" for i in range(40)]
    later = cw.clock.now + timedelta(days=7)
    _spring(cw, *crowd, campaign_id="crowd", scheduled_at=later.isoformat())
    cw.clock.now = later + timedelta(minutes=1)
    cw.tick()
    many: dict[str, Any] = {}

    def read_many() -> None:
        many.update(_split(cw.http, cw.auth, week=(week + timedelta(days=7)).isoformat()))

    # When each week's table is read, its DynamoDB requests counted
    forty = _counted(client, read_many)
    keys_forty = _read(client, read_many)

    # Then both weeks cost the same requests, and no Query returned a recipient record
    assert few["campaigns"] == [{"campaign_id": "spring", **_records_say(cw.cloud, "spring")}]
    assert many["campaigns"] == [{"campaign_id": "crowd", **_records_say(cw.cloud, "crowd")}]
    assert many["campaigns"][0]["sent"] == 40 + 2  # c-1, c-2 are still in the segment
    assert two == forty, (two, forty)
    marks_figures = ["BatchGetItem", "GetItem", "Query", "GetItem", "BatchGetItem"]
    assert two == [*marks_figures, "Query", "Query", "GetItem", "Query"]
    assert not [k for k in keys_two + keys_forty if k.startswith("R#")]
    # And the people behind each tile are the records' (one person, one record here)
    assert few["people"] == _records_say(cw.cloud, "spring")
    assert many["people"] == _records_say(cw.cloud, "crowd")


@pytest.mark.parametrize("upgraded", [False, True], ids=["read-the-old-way", "partitions"])
def test_each_journey_is_its_own_row_by_name_and_the_rows_add_up(
    world: JourneyWorld, upgraded: bool
) -> None:
    # Given a shop backfilled last week or not, and two journeys mailing the same buyers
    if upgraded:
        backfilled(world.clock)
    world.journey(
        post_purchase(journey_id="all-in", name="全員へ", holdout_percent=0, exit_events=[])
    )
    for p in PEOPLE[:6]:
        world.customer(p)
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    world.run_for(4)
    monday = week_of(world.clock.now).isoformat()

    # When the week's table is read
    split = _split(world.http, world.auth, week=monday)

    # Then each journey is a row, by name, with its own numbers of that week (its stats)
    def own(journey_id: str) -> dict[str, int]:
        week = next(w for w in world.stats(journey_id)["weeks"] if w["week"] == monday)
        return {m: int(week[m]) for m in WEEK_METRICS}

    assert split["journey_rows"] == [
        {"journey_id": "drill", "name": "Post-purchase education", **own("drill")},
        {"journey_id": "all-in", "name": "全員へ", **own("all-in")},
    ]
    assert own("all-in")["sent"] == 2 * 6 and own("drill")["sent"] > 0
    # And the rows add up to the journeys' sum
    assert split["journeys"] == {m: sum(r[m] for r in split["journey_rows"]) for m in WEEK_METRICS}


def test_totals_counted_before_they_named_their_journey_are_a_row_of_their_own(
    world: JourneyWorld, cloud: Cloud
) -> None:
    # Given a backfilled shop whose journey mailed four people this week
    backfilled(world.clock)
    for p in PEOPLE[:4]:
        world.customer(p)
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    world.run_for(2)
    monday = week_of(world.clock.now).isoformat()
    # And a total shard written by the code before totals named their journey
    cloud.dynamodb.put_item(
        TableName=cloud.settings.journeys_table,
        Item={
            "pk": {"S": f"WEEK#acme#{monday}"},
            "sk": {"S": "T#003"},
            "sent": {"N": "3"},
            "opened": {"N": "1"},
        },
    )

    # When the week's table is read
    split = _split(world.http, world.auth, week=monday)

    # Then the old shard is a row of no journey, after the named ones, and all add up
    drill, old = split["journey_rows"]
    assert drill["journey_id"] == "drill" and drill["sent"] > 0
    assert old == {
        "journey_id": None,
        "name": None,
        "sent": 3,
        "opened": 1,
        "clicked": 0,
        "converted": 0,
    }
    assert split["journeys"]["sent"] == drill["sent"] + 3


def test_a_campaign_before_the_campaigns_mark_is_read_from_its_records(
    cw: CampaignWorld,
) -> None:
    # Given a shop whose journey weeks are whole but whose campaign figures are not (a
    # shop made before they were counted): this week's campaign's counted figures gone
    cw.container.week.journeys.mark_weeks_since("acme", week_of(cw.clock.now).isoformat())
    _spring(cw, "c-1", "c-2", "c-3")
    cw.tick()
    cw.cloud.dynamodb.update_item(
        TableName=cw.cloud.settings.messenger_table,
        Key={"pk": {"S": "CAMPAIGN#acme#spring"}, "sk": {"S": "STATS"}},
        UpdateExpression="REMOVE week_sent",
    )

    # When the week's table is read, before the backfill and after it (run this week)
    before = _split(cw.http, cw.auth)["campaigns"]
    since = backfilled(cw.clock, weeks_ago=0, mark="campaigns_since")
    after = _split(cw.http, cw.auth)["campaigns"]

    # Then both read this week's campaign from its records (the mark is next Monday)
    said = {"campaign_id": "spring", **_records_say(cw.cloud, "spring")}
    assert before == after == [said] and said["sent"] == 3
    assert since == week_of(cw.clock.now) + timedelta(days=7)
    # And a campaign of the next week is read from its figures, no record
    later = cw.clock.now + timedelta(days=7)
    _spring(cw, "c-4", campaign_id="next", scheduled_at=later.isoformat())
    cw.clock.now = later + timedelta(minutes=1)
    cw.tick()
    client = getattr(cw.container.adapters.campaign_repo, "_client")  # noqa: B009
    found: dict[str, Any] = {}
    keys = _read(client, lambda: found.update(_split(cw.http, cw.auth)))
    assert found["campaigns"] == [{"campaign_id": "next", **_records_say(cw.cloud, "next")}]
    assert found["campaigns"][0]["sent"] == 4 and not [k for k in keys if k.startswith("R#")]


def test_an_open_landing_between_a_clicks_tries_is_counted_once(cw: CampaignWorld) -> None:
    # Given a backfilled shop and a campaign mailed to one person
    backfilled(cw.clock)
    _spring(cw, "c-1")
    cw.tick()
    _, _, html = mail_of(cw.mails()[0].raw_data)
    pixel = html.split('src="https://kizuna.test')[1].split('"')[0]
    click = html.split('href="https://kizuna.test')[1].split('"')[0]
    repo = cw.container.adapters.campaign_repo
    assert isinstance(repo, DynamoCampaignRepository)
    opened: list[int] = []

    class OpenedMeanwhile(DynamoCampaignRepository):
        """Between the click's refused try and its next, the pixel loads (another
        Lambda), after the click read the record: its read is already stale."""

        def _record(self, tracked: Any) -> dict[str, Any] | None:
            found = super()._record(tracked)
            if not opened:
                opened.append(cw.http.get(pixel).status_code)
            return found

    cw.use(
        campaign_repo=OpenedMeanwhile(repo._client, repo._table, cw.cloud.settings.journeys_table)
    )

    # When the person clicks (the first try expects an open before it, and none is there)
    assert cw.http.get(click, follow_redirects=False).status_code == 302

    # Then the open landed in between, and the week counts one open and one click, as
    # the record says
    assert opened == [200]
    said = _records_say(cw.cloud, "spring")
    assert said == {"sent": 1, "opened": 1, "clicked": 1, "converted": 0}
    assert _split(cw.http, cw.auth)["campaigns"] == [{"campaign_id": "spring", **said}]


def test_an_open_and_a_click_cost_the_writes_they_did_and_a_repeat_one_read_more(
    cw: CampaignWorld,
) -> None:
    # Given a campaign mailed to one person, the DynamoDB calls of each request counted
    _spring(cw, "c-1")
    cw.tick()
    _, _, html = mail_of(cw.mails()[0].raw_data)
    pixel = html.split('src="https://kizuna.test')[1].split('"')[0]
    click = html.split('href="https://kizuna.test')[1].split('"')[0]
    client = getattr(cw.container.adapters.campaign_repo, "_client")  # noqa: B009

    def get(path: str) -> Any:
        return lambda: cw.http.get(path, follow_redirects=False)

    # When the pixel loads, loads again, and the link is followed, then followed again
    first_open, again_open = _counted(client, get(pixel)), _counted(client, get(pixel))
    first_click, again_click = _counted(client, get(click)), _counted(client, get(click))

    # Then a first open or click is one transaction (record, counters, week figures) and
    # the last touch; a repeat open is the refused transaction and a read of the record
    # (nothing counted); a repeat click is that and the last touch (every click is one)
    assert first_open == ["TransactWriteItems", "PutItem"], first_open
    assert again_open == ["TransactWriteItems", "GetItem"], again_open
    assert first_click == ["TransactWriteItems", "PutItem"], first_click
    assert again_click == ["TransactWriteItems", "GetItem", "PutItem"], again_click
    assert _records_say(cw.cloud, "spring") == {
        "sent": 1,
        "opened": 1,
        "clicked": 1,
        "converted": 0,
    }
