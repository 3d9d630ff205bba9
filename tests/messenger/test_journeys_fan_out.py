"""The dispatcher's fan-out: one SQS message per due shard, each worked by the events
function's SQS handler; a shard that fails is handed back alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from messenger.adapters.shard_queue import SqsShardQueue
from messenger.entrypoints import events as messenger_events
from tests.conftest import Cloud, ShopKeys
from tests.messenger.journey_world import JourneyWorld, post_purchase


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    w = JourneyWorld(cloud, shop)
    w.policy(cap_count=20)
    w.customer("c-1")
    for day in (1, 3, 5, 7, 14, 21, 30):
        w.message(f"step-{day}")
    w.journey(post_purchase())
    return w


def test_the_tick_fans_shards_out_and_the_workers_send(world: JourneyWorld) -> None:
    """Given a shards queue and someone whose day-1 mail is due
    When the tick runs, and the SQS handler gets the queue's messages (one duplicated,
    as SQS may), plus one that is not a shard
    Then there was one message, for the one shard with a step due, the mail went out
    once, and only the bad record is reported back for redelivery."""
    sqs = world.cloud.sqs
    url = sqs.create_queue(QueueName="journey-shards")["QueueUrl"]
    world.use(shard_queue=SqsShardQueue(sqs, url))
    world.order("o-1")
    world.shipped("o-1")
    world.clock.advance(days=1, minutes=1)

    repo = world.container.adapters.journey_repo
    (due_shard,) = [s for s in range(4) if repo.has_due(s, world.clock.now)]

    summary = world.tick()
    assert summary["journeys"] == {"fanned_out": 1}
    records: list[dict[str, Any]] = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        records += [{"messageId": m["MessageId"], "body": m["Body"]} for m in got]
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert [json.loads(r["body"])["journey_shard"] for r in records] == [due_shard]
    records += [records[0], {"messageId": "bad", "body": "not json"}]

    done = messenger_events.handler({"Records": records}, None)

    assert done["batchItemFailures"] == [{"itemIdentifier": "bad"}]
    assert [t for t, _ in world.journey_mails()] == ["journey:post-purchase:mail-1"]


def test_an_idle_minute_queues_nothing(world: JourneyWorld) -> None:
    """Given a shards queue and someone whose next step is a day away
    When the tick runs
    Then no shard is queued (no worker is started for nothing)."""
    sqs = world.cloud.sqs
    url = sqs.create_queue(QueueName="journey-shards")["QueueUrl"]
    world.use(shard_queue=SqsShardQueue(sqs, url))
    world.order("o-1")
    world.shipped("o-1")

    assert world.tick()["journeys"] == {"fanned_out": 0}
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
