"""The dispatcher's fan-out: one SQS message per due shard, each worked by the events
function's SQS handler; a shard that fails is handed back alone."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import pytest

from messenger.adapters.journeys import DynamoJourneyRepository
from messenger.adapters.shard_queue import SqsShardQueue
from messenger.domain.journeys.enrolment import Enrolment
from messenger.entrypoints import events as messenger_events
from messenger.services.journeys.dispatch import SHARD_LEASE
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


class OverlappingWorker(DynamoJourneyRepository):
    """Right after the first worker took its shard's lease, SQS hands the same shard to a
    second worker (standard SQS, a message delivered twice), which runs right then."""

    def __init__(self, inner: DynamoJourneyRepository, world: JourneyWorld) -> None:
        self.__dict__.update(inner.__dict__)
        self.world = world
        self.second: list[Any] = []

    def lease(self, shard: int, owner: str, now: datetime, until: datetime) -> bool:
        taken = super().lease(shard, owner, now, until)
        if taken and not self.second:
            self.second.append(None)
            self.second[0] = self.world.container.journeys.dispatch.work(shard, now)
        return taken


def test_two_workers_never_work_one_shard_at_the_same_time(world: JourneyWorld) -> None:
    """Given someone whose day-1 mail is due
    When a second worker gets the same shard while the first is working it
    Then the second finds the shard's lease taken and does nothing (busy); the first
    sends the mail once and gives the lease back, so the next run may take it."""
    world.order("o-1")
    world.shipped("o-1")
    world.clock.advance(days=1, minutes=1)
    overlapping = OverlappingWorker(world.container.adapters.journey_repo, world)  # type: ignore[arg-type]
    world.use(journey_repo=overlapping)
    (shard,) = [s for s in range(4) if overlapping.has_due(s, world.clock.now)]

    first = world.container.journeys.dispatch.work(shard, world.clock.now)

    (second,) = overlapping.second
    assert (second.busy, second.ran) == (True, 0)
    assert (first.busy, first.ran) == (False, 1)
    assert [t for t, _ in world.journey_mails()] == ["journey:post-purchase:mail-1"]
    assert overlapping.lease(shard, "next-run", world.clock.now, world.clock.now)


def test_a_crashed_workers_lease_expires_on_the_clock(world: JourneyWorld) -> None:
    """Given a worker that took a shard's lease and died without giving it back
    When another worker comes before the lease expires, and again after
    Then the first is refused, the second gets the shard and sends the due mail."""
    world.order("o-1")
    world.shipped("o-1")
    world.clock.advance(days=1, minutes=1)
    repo = world.container.adapters.journey_repo
    dispatch = world.container.journeys.dispatch
    (shard,) = [s for s in range(4) if repo.has_due(s, world.clock.now)]
    assert repo.lease(shard, "crashed", world.clock.now, world.clock.now + SHARD_LEASE)

    assert dispatch.work(shard, world.clock.now).busy
    world.clock.advance(minutes=7)
    assert dispatch.work(shard, world.clock.now).ran == 1
    assert [t for t, _ in world.journey_mails()] == ["journey:post-purchase:mail-1"]


def test_a_failing_shard_is_logged_and_handed_back_to_sqs(
    world: JourneyWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """Given a shard whose due index cannot be read (DynamoDB throttles)
    When the SQS handler gets it
    Then the failure is logged (message id and error type, nothing about a person) and
    the record is reported back, so SQS retries it and in the end dead-letters it."""

    class Throttled(DynamoJourneyRepository):
        def __init__(self, inner: DynamoJourneyRepository) -> None:
            self.__dict__.update(inner.__dict__)

        def due(self, shard: int, until: datetime, limit: int) -> list[Enrolment]:
            raise ConnectionError("throttled")

    world.use(journey_repo=Throttled(world.container.adapters.journey_repo))  # type: ignore[arg-type]
    body = json.dumps({"journey_shard": 2, "until": world.clock.now.isoformat()})
    with caplog.at_level(logging.ERROR, logger="kizuna.messenger.journeys"):
        done = messenger_events.handler({"Records": [{"messageId": "m-1", "body": body}]}, None)

    assert done["batchItemFailures"] == [{"itemIdentifier": "m-1"}]
    (logged,) = [r for r in caplog.records if r.getMessage() == "journey shard failed"]
    assert (logged.message_id, logged.error) == ("m-1", "ConnectionError")  # type: ignore[attr-defined]
    repo = world.container.adapters.journey_repo
    assert repo.lease(2, "next", world.clock.now, world.clock.now)  # released on the way out


def _drain(world: JourneyWorld, url: str) -> list[dict[str, Any]]:
    sqs = world.cloud.sqs
    records: list[dict[str, Any]] = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        records += [{"messageId": m["MessageId"], "body": m["Body"]} for m in got]
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return records


def test_a_long_restock_wish_list_goes_on_in_pages_through_the_queue(
    world: JourneyWorld,
) -> None:
    """Given back-in-stock enabled, a shards queue, pages of two people, and five people
    who viewed a SKU while it was sold out
    When it comes back, and the SQS handler works the queue's messages (each page's
    message delivered twice, as SQS may)
    Then the event handed over the first page and queued the next; each page handed over
    two more and queued the rest; all five entered once, and nobody is left waiting."""
    sqs = world.cloud.sqs
    url = sqs.create_queue(QueueName="journey-shards")["QueueUrl"]
    world.use(shard_queue=SqsShardQueue(sqs, url))
    r = world.http.post("/v1/journeys/builtins/back-in-stock/enable", headers=world.auth)
    assert r.status_code == 200, r.text
    intake = world.container.journeys.intake
    object.__setattr__(intake, "restock_page", 2)  # the frozen intake, wired once
    people = [f"w-{i}" for i in range(5)]
    world.event("inventory.changed", {"sku": "SOLD-1", "previous_quantity": 1, "quantity": 0})
    for p in people:
        world.customer(p)
        seen = {"customer_id": p, "sku": "SOLD-1", "viewed_at": world.clock.now.isoformat()}
        world.event("product.viewed", seen)

    first = world.event(
        "inventory.changed", {"sku": "SOLD-1", "previous_quantity": 0, "quantity": 3}
    )

    assert len(first["journeys"]["entered"]) == 2
    pages = 0
    while records := _drain(world, url):
        assert [set(json.loads(r["body"])) for r in records] == [{"restock"}]
        done = messenger_events.handler({"Records": records * 2}, None)
        assert done["batchItemFailures"] == []
        pages += 1
    assert pages == 2
    assert world.stats("back-in-stock")["entered"] == len(people)
    assert world.container.adapters.journey_facts.wanting("acme", "SOLD-1", 10) == []
