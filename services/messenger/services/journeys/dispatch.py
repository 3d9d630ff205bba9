"""The journey dispatcher: every minute the tick fans the due shards out (one SQS
message per shard with a step due, so the shards are worked in parallel, and an idle
minute starts no worker), and a worker runs one shard's
due enrolments. Nothing scans the table: a worker reads its shard of the sparse `due`
index, earliest first, up to `per_shard` enrolments; the rest wait for the next tick.

A worker works a shard only under the shard's lease (a conditional write that expires
after `SHARD_LEASE`, on the injected clock): standard SQS may deliver a shard's message
twice, or the next tick may queue it again while a slow worker is still on it, and the
second worker then leaves the shard alone (`busy`). Should two runs still read the same
enrolment (an expired lease), each step is recorded by a conditional write, so only one
records it, and a send that ran twice finds its delivery (see `runner`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from messenger.services.journeys.runner import StepRunner
from messenger.services.ports import JourneyRepository, ShardQueue

SHARD_LEASE = timedelta(minutes=6)
"""Longer than the events function may run (300 s): a live worker never loses its lease;
a crashed one holds its shard at most this long."""


@dataclass(frozen=True)
class ShardRun:
    shard: int
    ran: int
    failed: int
    busy: bool = False
    """Another worker held the shard's lease: nothing was done."""


@dataclass(frozen=True)
class JourneyDispatch:
    repo: JourneyRepository
    runner: StepRunner
    shards: int
    per_shard: int
    clock: Callable[[], datetime]
    queue: ShardQueue | None = None
    """None: the tick works every shard itself (the local stack, tests)."""
    date_scan: Callable[[datetime], int] | None = None
    """The daily date-trigger scan (birthdays), claimed by the first tick of a UTC day."""

    def tick(self) -> dict[str, Any]:
        """With a queue: one message per shard that has a step due (one `Limit 1` count
        per shard, so an idle minute invokes no worker); without: every shard worked here."""
        now = self.clock()
        if self.date_scan is not None:
            self.date_scan(now)
        shards = list(range(self.shards))
        if self.queue is not None:
            due = [s for s in shards if self.repo.has_due(s, now)]
            if due:
                self.queue.fan_out(due, now)
            return {"fanned_out": len(due)}
        runs = [self.work(s, now) for s in shards]
        return {"ran": sum(r.ran for r in runs), "failed": sum(r.failed for r in runs)}

    def work(self, shard: int, until: datetime) -> ShardRun:
        """One shard's due enrolments, under the shard's lease (taken only when something
        is due); one that fails is parked with backoff, never in the way of the others."""
        due = self.repo.due(shard, until, self.per_shard)
        if not due:
            return ShardRun(shard, 0, 0)  # an idle shard costs one read, no lease
        owner = uuid.uuid4().hex
        now = self.clock()
        if not self.repo.lease(shard, owner, now, now + SHARD_LEASE):
            return ShardRun(shard, 0, 0, busy=True)
        # What was read before the lease may since have been worked by the last holder:
        # each step's conditional write on `seq` turns such a stale read into a no-op.
        ran = failed = 0
        try:
            for e in due:
                try:
                    self.runner.run(e)
                    ran += 1
                except Exception as err:
                    failed += 1
                    self.runner.park(e, err)
        finally:
            self.repo.release(shard, owner)
        return ShardRun(shard, ran, failed)
