"""The journey dispatcher: every minute the tick fans the due shards out (one SQS
message per shard with a step due, so the shards are worked in parallel, and an idle
minute starts no worker), and a worker runs one shard's
due enrolments. Nothing scans the table: a worker reads its shard of the sparse `due`
index, earliest first, up to `per_shard` enrolments; the rest wait for the next tick.

Overlapping runs (a slow tick and the next one, a redelivered SQS message) may read the
same enrolment: each step is recorded by a conditional write, so only one records it,
and a send that ran twice finds its delivery (see `runner`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from messenger.adapters.journeys import JourneyRepository
from messenger.services.journeys.ports import ShardQueue
from messenger.services.journeys.runner import StepRunner


@dataclass(frozen=True)
class ShardRun:
    shard: int
    ran: int
    failed: int


@dataclass(frozen=True)
class JourneyDispatch:
    repo: JourneyRepository
    runner: StepRunner
    shards: int
    per_shard: int
    clock: Callable[[], datetime]
    queue: ShardQueue | None = None
    """None: the tick works every shard itself (the local stack, tests)."""

    def tick(self) -> dict[str, Any]:
        """With a queue: one message per shard that has a step due (one `Limit 1` count
        per shard, so an idle minute invokes no worker); without: every shard worked here."""
        now = self.clock()
        shards = list(range(self.shards))
        if self.queue is not None:
            due = [s for s in shards if self.repo.has_due(s, now)]
            if due:
                self.queue.fan_out(due, now)
            return {"fanned_out": len(due)}
        runs = [self.work(s, now) for s in shards]
        return {"ran": sum(r.ran for r in runs), "failed": sum(r.failed for r in runs)}

    def work(self, shard: int, until: datetime) -> ShardRun:
        """One shard's due enrolments; one that fails is parked with backoff, never in
        the way of the others."""
        ran = failed = 0
        for e in self.repo.due(shard, until, self.per_shard):
            try:
                self.runner.run(e)
                ran += 1
            except Exception as err:
                failed += 1
                self.runner.park(e, err)
        return ShardRun(shard, ran, failed)
