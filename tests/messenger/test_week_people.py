"""The overview's week tiles' people ("M人"), counted as the messages are: each person
once per week and metric, by a mark in their partition put under `attribute_not_exists`
with the one ADD it guards, in the transaction that counts the message
(`transact_once`); a mark that exists drops its pair and never the message. Checked
against the week's shares the test reads itself, through repeated events; erasure and
disclosure cover the marks and leave the counts."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from messenger.adapters.journeys import DynamoJourneyRepository, week_mark, week_pk
from messenger.adapters.repository import CampaignWeeks
from messenger.adapters.rights import DynamoMessengerPersonalData
from messenger.domain.week import WEEK_METRICS, week_of
from messenger.entrypoints import events as messenger_events
from shared.adapters.dynamodb import cancellation_codes, key, to_item, transact_once
from tests.conftest import Cloud
from tests.messenger.drilldown import backfilled, engaged, mail_of, world
from tests.messenger.fakes import RecordingPublisher
from tests.messenger.journey_world import JourneyWorld
from tests.messenger.test_campaigns import CampaignWorld, cw
from tests.messenger.test_week_drilldown import URL
from tests.messenger.test_week_figures import _order, _spring

__all__ = ["cw", "world"]

PEOPLE = [f"p-{i:02d}" for i in range(8)]
OPENERS = PEOPLE[1::3]


def _record(table: str, sk: str) -> dict[str, Any]:
    """A message record that exists once (the write a mark rides with)."""
    return {
        "Put": {
            "TableName": table,
            "Item": to_item({"pk": "MSG#acme", "sk": sk}),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def _shares(cloud: Cloud, monday: str) -> dict[str, set[str]]:
    """Who the week's shares say reached each metric, read by the test itself."""
    items = cloud.dynamodb.query(
        TableName=cloud.settings.journeys_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": week_pk("acme", monday)}, ":p": {"S": "P#"}},
    )["Items"]
    return {
        m: {i["customer_id"]["S"] for i in items if int(i.get(m, {"N": "0"})["N"]) > 0}
        for m in WEEK_METRICS
    }


def test_a_mark_counts_a_person_once_and_never_cancels_the_message(cloud: Cloud) -> None:
    # Given the journeys table and two messages to the same person in one week
    table = cloud.settings.journeys_table
    repo = DynamoJourneyRepository(cloud.dynamodb, table)

    def pair(metric: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return week_mark(table, "acme", "2026-11-30", "c-1", metric)

    # When both are written with the person's sent mark, the second also with a new opened
    transact_once(cloud.dynamodb, [_record(table, "m-1")], [pair("sent")])
    transact_once(cloud.dynamodb, [_record(table, "m-2")], [pair("sent"), pair("opened")])
    # And the first is retried (a duplicate event): its record refuses it
    with pytest.raises(ClientError) as refused:
        transact_once(cloud.dynamodb, [_record(table, "m-1")], [pair("sent")])

    # Then both messages are written, the person counted once as sent and once as opened
    for sk in ("m-1", "m-2"):
        assert cloud.dynamodb.get_item(TableName=table, Key=key("MSG#acme", sk)).get("Item")
    assert repo.week_people("acme", "2026-11-30") == {
        "sent": 1,
        "opened": 1,
        "clicked": 0,
        "converted": 0,
    }
    # And the retry's refusal names the record (index 0), as without marks
    assert cancellation_codes(refused.value)[0] == "ConditionalCheckFailed"


def test_a_journeys_week_people_are_its_shares_distinct_people_through_repeats(
    world: JourneyWorld, cloud: Cloud
) -> None:
    # Given eight buyers entering a journey (half held out), its mails sent this week and
    # some first mails opened, every event handled twice (a duplicate delivery)
    recorder = RecordingPublisher()
    world.use(publisher=recorder)
    for p in PEOPLE:
        world.customer(p)
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    world.run_for(4)
    sent = [e for e in recorder.published if e.type == "message.sent"]
    for envelope in sent * 2:
        messenger_events.handler({"detail": envelope.model_dump(mode="json")}, None)
    for envelope in sent * 2:
        if envelope.detail["trigger"].endswith(":mail-1") and (
            envelope.detail["customer_id"] in OPENERS
        ):
            engaged(world, "message.opened", envelope)
    monday = week_of(world.clock.now).isoformat()
    repo = DynamoJourneyRepository(cloud.dynamodb, cloud.settings.journeys_table)

    # When the week's people are read from their counters
    people = repo.week_people("acme", monday)

    # Then each metric's is the number of distinct people the week's shares name (each
    # treated person mailed twice, counted once), none of them zero where shares are not
    shares = _shares(cloud, monday)
    assert people == {m: len(shares[m]) for m in WEEK_METRICS}
    assert people["sent"] > 0 and people["opened"] > 0

    # And a person's marks are disclosed with the rest of their data, and erased with
    # it, the counts left as they are (aggregates hold no identity)
    someone = sorted(shares["opened"])[0]
    rights = DynamoMessengerPersonalData(
        cloud.dynamodb, cloud.settings.messenger_table, cloud.settings.journeys_table
    )
    marks = rights.export("acme", [someone])["week_marks"]
    assert sorted(m["metric"] for m in marks) == ["opened", "sent"]
    assert {m["week"] for m in marks} == {monday}
    erased: dict[str, int] = {}
    for step in rights.erase("acme", someone):
        for k, n in step.items():
            erased[k] = erased.get(k, 0) + n
    assert erased["week_marks"] == 2
    assert rights.export("acme", [someone])["week_marks"] == []
    assert repo.week_people("acme", monday) == people


def _records(cloud: Cloud, *campaigns: str) -> list[dict[str, Any]]:
    """The campaigns' recipient records, read by the test itself."""
    return [
        i
        for c in campaigns
        for i in cloud.dynamodb.query(
            TableName=cloud.settings.messenger_table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :r)",
            ExpressionAttributeValues={
                ":pk": {"S": f"CAMPAIGN#acme#{c}"},
                ":r": {"S": "R#"},
            },
        )["Items"]
    ]


def _people_of(records: list[dict[str, Any]]) -> dict[str, int]:
    """Distinct people per tile over the records (a click is an open too)."""
    who: dict[str, set[str]] = {m: set() for m in WEEK_METRICS}
    for r in records:
        person = r["sk"]["S"].removeprefix("R#")
        who["sent"].add(person)
        if "opened_at" in r or "clicked_at" in r:
            who["opened"].add(person)
        if "clicked_at" in r:
            who["clicked"].add(person)
        if "converted_at" in r:
            who["converted"].add(person)
    return {m: len(p) for m, p in who.items()}


def test_the_same_person_in_two_campaigns_of_a_week_counts_once(cw: CampaignWorld) -> None:
    # Given a backfilled shop, a campaign to c-1 and c-2, and another the same week to
    # c-1, c-2 and c-3 (the segment grew)
    backfilled(cw.clock)
    _spring(cw, "c-1", "c-2")
    cw.tick()
    _spring(cw, "c-1", "c-2", "c-3", campaign_id="autumn")
    cw.tick()
    mails = [mail_of(m.raw_data) for m in cw.mails()]
    assert sorted(who for _, who, _ in mails) == ["c-1", "c-1", "c-2", "c-2", "c-3"]

    # When c-1 opens both mails (each twice), c-3 clicks its mail twice, and c-2 buys
    for _, who, html in mails * 2:
        if who == "c-1":
            pixel = html.split('src="https://kizuna.test')[1].split('"')[0]
            assert cw.http.get(pixel).status_code == 200
        if who == "c-3":
            click = html.split('href="https://kizuna.test')[1].split('"')[0]
            assert cw.http.get(click, follow_redirects=False).status_code == 302
    pixel = next(h for _, w, h in mails if w == "c-2").split('src="https://kizuna.test')[1]
    assert cw.http.get(pixel.split('"')[0]).status_code == 200
    assert _order(cw, "o-1", "c-2")["attributed_to"] in ("spring", "autumn")
    r = cw.http.get("/v1/deliveries/week", headers=cw.auth)
    assert r.status_code == 200, r.text
    split = r.json()

    # Then every message was recorded (five records), and the people behind each tile
    # are the distinct people of both campaigns' records, the test's own count
    records = _records(cw.cloud, "spring", "autumn")
    assert len(records) == 5
    said = _people_of(records)
    assert said == {"sent": 3, "opened": 3, "clicked": 1, "converted": 1}
    assert split["people"] == said
    # And the messages are the records' (c-1 twice), the tiles' number as before
    assert sum(c["sent"] for c in split["campaigns"]) == 5
    assert sum(c["opened"] for c in split["campaigns"]) == 4
    # And each tile's drill-down says the same number of people
    for metric in WEEK_METRICS:
        page = cw.http.get(URL, params={"metric": metric, "limit": 1}, headers=cw.auth)
        assert page.status_code == 200, page.text
        assert page.json()["count"] == said[metric], metric


def test_a_week_before_the_people_mark_is_counted_from_its_records(cw: CampaignWorld) -> None:
    # Given a shop not backfilled (its weeks before any mark), two campaigns this week
    # to overlapping people
    _spring(cw, "c-1", "c-2")
    cw.tick()
    _spring(cw, "c-1", "c-2", "c-3", campaign_id="autumn")
    cw.tick()

    # When the week split and the drill-down are read
    split = cw.http.get("/v1/deliveries/week", headers=cw.auth).json()
    page = cw.http.get(URL, params={"metric": "sent"}, headers=cw.auth).json()

    # Then the split says no people (the console asks the drill-down), and the drill-down
    # counts them from the records as before: three people, five messages
    assert split["people"] is None
    assert (page["count"], page["messages"]) == (3, 5)


def test_a_campaigns_week_is_read_once_a_process(cw: CampaignWorld) -> None:
    # Given a campaign sent this week, and a process that has not met it yet
    _spring(cw, "c-1")
    cw.tick()
    settings = cw.cloud.settings
    weeks = CampaignWeeks(cw.cloud.dynamodb, settings.messenger_table, settings.journeys_table)
    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    # When it makes the marks of two people's messages of that campaign
    cw.cloud.dynamodb.meta.events.register("before-call.dynamodb", count)
    try:
        first = weeks.marks("acme", "spring", "c-1", ("sent",))
        second = weeks.marks("acme", "spring", "c-2", ("opened", "clicked"))
    finally:
        cw.cloud.dynamodb.meta.events.unregister("before-call.dynamodb", count)

    # Then it read the campaign once (its scheduled time never changes), and each mark is
    # the person's in the campaign's week
    assert calls == ["GetItem"], calls
    monday = week_of(cw.clock.now).isoformat()
    assert [m["Put"]["Item"]["sk"]["S"] for m, _ in first] == [f"WEEK#{monday}#sent"]
    assert [m["Put"]["Item"]["pk"]["S"] for m, _ in second] == ["CUST#acme#c-2"] * 2
    # And an unknown campaign makes no mark
    assert weeks.marks("acme", "nope", "c-1", ("sent",)) == []
