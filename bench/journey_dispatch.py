"""Journey due-step dispatch over a simulated day: throughput, DynamoDB requests per
executed step (counted; target at most 4) and the p99 lateness of due steps.

A day of enrolments (entries spread evenly over 24 h) runs a journey of two waits and
two sends (wait 1 h, send, wait until the trigger's `shipped_at` + 6 h, send, exit)
against moto in-process with the SAM template's tables. The dispatcher ticks every
simulated minute, as the schedule does, working every due shard. Sends go to a counting
`Sends` (the send pipeline has its own bench, `messenger_requests.py`), so what is
measured is the engine: the due index, the step records, the counters.

- throughput: executed steps per second of wall time, as a ratio to a baseline in the
  same process: one plain `PutItem` per step against the same moto table (moto's
  per-request cost dominates both, so the ratio is a regression number);
- requests per executed step: every request to the journeys table during the day's
  ticks (the due-index polls included) divided by the steps executed; entering is
  counted apart, per enrolment;
- lateness: for each due step picked, the dispatcher's time minus the step's due time
  (simulated seconds; a tick is taken to finish within its minute, which the
  throughput figure says whether it does at this load).

Requests go through `ops.local.moto_client.MotoDynamoDB` (moto's own DynamoDB handler
and `ops.local.moto_dynamodb`'s patch, without botocore's serialising and signing) and
are counted where a botocore client counts them (`provide-client-params`,
`RequestCounter`); the patch's index buckets keep each due-index poll to its shard's due
range, so the issue's day of 100,000 enrolments on the template's 16 shards runs here:
`--enrolments 100000` (53 minutes on the shared 2-core machine; `make bench`
runs 10,000). Measured on that day (2026-12-04, shared 2-core machine):
500,000 executed steps; 1.37 requests per step with the idle-shard checks, 1.31
without them; 3.01 per enrolment (4.0 when each entry has a minute of its own); p99
lateness 58.8 s (median 0.0 s); burst 748.5 steps/s, 0.18 of the `PutItem` loop; the day
took 52.9 min of wall time at load average 7 to 9 for most of the run (2.6 at its end).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))
sys.path.insert(0, str(ROOT))

from bench.harness import create_tables  # noqa: E402

os.environ.update(
    AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="ap-northeast-1"
)
os.environ.pop("AWS_ENDPOINT_URL", None)

JOURNEY = {
    "journey_id": "bench",
    "name": "Bench",
    "trigger": {"event": "order.shipped", "key": "order_id"},
    "start": "w1",
    "steps": {
        "w1": {"type": "wait", "hours": 1, "next": "s1"},
        "s1": {"type": "send", "message_id": "m1", "next": "w2"},
        "w2": {"type": "wait_until", "anchor": "shipped_at", "hours": 6, "next": "s2"},
        "s2": {"type": "send", "message_id": "m2", "next": "end"},
        "end": {"type": "exit"},
    },
    "reentry": {"mode": "per_key"},
}


def main(enrolments: int = 2000, shards: int = 16) -> dict[str, float]:
    import boto3
    from moto import mock_aws

    from ops.local import moto_dynamodb
    from ops.local.moto_client import MotoDynamoDB, serve_dynamodb_directly
    from shared import clock as shared_clock

    start = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # midnight JST
    clock = shared_clock.FixedClock(start)
    shared_clock.use(clock)
    moto_dynamodb.install()
    serve_dynamodb_directly(True)
    try:
        with mock_aws():
            world = _World(MotoDynamoDB(boto3.client("dynamodb")), clock, shards)
            day = _simulated_day(world, enrolments, shards)
            burst = _burst(world, min(enrolments, 1000))
    finally:
        serve_dynamodb_directly(False)
        shared_clock.reset()
    result = {"enrolments": float(enrolments), **day, **burst}
    print(
        f"Journey dispatch over a simulated day ({enrolments} enrolments, the issue's day is "
        f"100,000; {shards} shards, a tick per simulated minute):"
    )
    for k, v in result.items():
        print(f"  {k:34} {v}")
    print(json.dumps({"benchmark": "journey_dispatch", "target_requests_per_step": 4, **result}))
    return result


class _World:
    """The messenger wired on moto with a counting send door and a timed due index."""

    def __init__(self, ddb: Any, clock: Any, shards: int) -> None:
        import boto3

        from messenger import bootstrap
        from messenger.adapters.journeys import DynamoJourneyRepository
        from messenger.domain.journeys.enrolment import Enrolment
        from messenger.domain.message import EmailContent, Message
        from messenger.services.sending import SendOutcome, SendRequest, Sends
        from shared.adapters.dynamodb import RequestCounter
        from shared.settings import Settings

        self.lateness: list[float] = []
        self.reads: list[int] = []
        lateness, reads = self.lateness, self.reads

        class CountingSends(Sends):
            def __init__(self) -> None:
                self.sent = 0

            def send(self, request: SendRequest, *, require_customer: bool = False) -> SendOutcome:
                return self.send_batch([request])[0]

            def send_batch(self, requests: Sequence[SendRequest]) -> list[SendOutcome]:
                self.sent += len(requests)
                return [SendOutcome(r.anchor, "sent") for r in requests]

        class TimedRepo(DynamoJourneyRepository):
            def due(self, shard: int, until: datetime, limit: int) -> list[Enrolment]:
                found = super().due(shard, until, limit)
                lateness.extend((until - e.due_at).total_seconds() for e in found if e.due_at)
                reads.append(len(found))
                return found

        names = create_tables(ddb)
        boto3.client("events").create_event_bus(Name="bench")
        settings = Settings(
            messenger_table=names["MessengerTable"],
            platform_table=names["PlatformTable"],
            journeys_table=names["JourneysTable"],
            journey_due_shards=shards,
            journey_steps_per_shard=500,
            event_bus_name="bench",
            sandbox=True,
        )
        self.ddb = ddb
        self.clock = clock
        self.table = names["JourneysTable"]
        self.sends = CountingSends()
        self.repo = TimedRepo(ddb, self.table, shards)
        container = bootstrap.build(settings).replaced(clock=clock, journey_repo=self.repo)
        for m in ("m1", "m2"):
            container.library.save(Message(m, "bench", m, email=EmailContent("s", "<p>h</p>", "t")))
        container.journeys.definitions.create("bench", JOURNEY)
        self.journeys = container.journeys
        # The counting door in place of the pipeline (the frozen runner is wired once).
        object.__setattr__(self.journeys.runner, "sends", self.sends)
        self.counter = RequestCounter(table=self.table).attach(ddb)

    def enter(self, n: int, at: datetime) -> None:
        self.journeys.intake.received(
            "bench",
            "order.shipped",
            f"evt-{n}",
            at,
            {"order_id": f"o-{n}", "customer_id": f"c-{n}", "shipped_at": at.isoformat()},
        )

    def executed(self) -> int:
        return _executed(self.repo)


def _simulated_day(world: _World, enrolments: int, shards: int) -> dict[str, float]:
    """Entries spread over a day (each at its own second, just before the tick that
    sees it), then the waits' 7 hours; the dispatcher ticks every simulated minute."""
    clock = world.clock
    start = clock.now
    every = timedelta(days=1) / enrolments
    next_entry, entered, ticks = start, 0, 0
    entry_requests = tick_requests = 0
    end = start + timedelta(days=1, hours=8)
    began = time.perf_counter()
    while clock.now < end:
        world.counter.reset()
        while entered < enrolments and next_entry <= clock.now:
            world.enter(entered, next_entry)
            entered += 1
            next_entry += every
        entry_requests += world.counter.count
        world.counter.reset()
        world.journeys.dispatch.tick()
        tick_requests += world.counter.count
        ticks += 1
        clock.advance(minutes=1)
    executed = world.executed()
    late = sorted(world.lateness)
    p99 = late[max(int(len(late) * 0.99) - 1, 0)] if late else 0.0
    return {
        "executed_steps": float(executed),
        "sends": float(world.sends.sent),
        "requests_per_step": round(tick_requests / executed, 3) if executed else 0.0,
        "requests_per_step_without_polls": (
            round((tick_requests - ticks * shards) / executed, 3) if executed else 0.0
        ),
        "requests_per_enrolment": round(entry_requests / enrolments, 3),
        "p99_lateness_seconds": round(p99, 1),
        "median_lateness_seconds": round(statistics.median(late), 1) if late else 0.0,
        "ticks": float(ticks),
        "day_wall_seconds": round(time.perf_counter() - began, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _burst(world: _World, n: int) -> dict[str, float]:
    """Throughput: `n` enrolments whose first wait ends at the same minute, worked by
    one tick, against a plain PutItem loop of as many items in the same process."""
    at = world.clock.now
    for i in range(n):
        world.enter(10_000_000 + i, at)
    world.clock.advance(hours=1, minutes=1)
    before = world.executed()
    began = time.perf_counter()
    while world.journeys.dispatch.tick()["ran"]:
        pass
    wall = time.perf_counter() - began
    steps = world.executed() - before
    began = time.perf_counter()
    for i in range(steps):
        world.ddb.put_item(
            TableName=world.table,
            Item={"pk": {"S": f"BASE#{i}"}, "sk": {"S": "x"}, "n": {"N": str(i)}},
        )
    baseline = steps / (time.perf_counter() - began)
    rate = steps / wall if wall else 0.0
    return {
        "burst_steps": float(steps),
        "steps_per_second": round(rate, 1),
        "ratio_to_put_item_loop": round(rate / baseline, 3) if baseline else 0.0,
    }


def _executed(repo: object) -> int:
    """Steps executed: the sum of every step's `executed` counter."""
    total = 0
    for _, scope, values in repo.counters("bench", "bench"):  # type: ignore[attr-defined]
        if scope.startswith("S#"):
            total += int(values.get("executed", 0))
    return total


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrolments", type=int, default=2000)
    parser.add_argument("--shards", type=int, default=16)
    args = parser.parse_args()
    main(args.enrolments, args.shards)
