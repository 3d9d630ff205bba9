"""When a step is due, who is held out, which shard: the engine's pure arithmetic."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from messenger.domain.journeys.definition import Step, StepType
from messenger.domain.journeys.enrolment import Enrolment


def unit_draw(*parts: str) -> float:
    """A uniform number in [0, 1) fixed by `parts`: the same enrolment always draws the
    same, so a duplicate trigger can never land in the other group."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def held_out(journey_id: str, enrolment_id: str, percent: float) -> bool:
    return percent > 0 and unit_draw("holdout", journey_id, enrolment_id) * 100 < percent


def shard_of(enrolment_id: str, shards: int) -> int:
    """Which due-index partition an enrolment's due steps go to (spreads the hot key)."""
    return int(unit_draw("shard", enrolment_id) * shards)


def enrolment_id(journey_id: str, customer_id: str, key: str) -> str:
    raw = f"{journey_id}|{customer_id}|{key}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def next_local_time(now: datetime, tz: tzinfo, hour: int, minute: int) -> datetime:
    """The next `hour:minute` in the person's zone at or after `now` (UTC)."""
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), time(hour, minute), tzinfo=tz)
    if candidate < local:
        candidate = datetime.combine(
            local.date() + timedelta(days=1), time(hour, minute), tzinfo=tz
        )
    return candidate.astimezone(UTC)


NEVER = datetime.max.replace(tzinfo=UTC)
"""The end of the calendar: what a time past it becomes (it never comes)."""


def later(at: datetime, by: timedelta) -> datetime:
    """`at + by`, or `NEVER` past the calendar's end: a trigger's time in the year 9999
    plus a wait must not raise (the step would be retried every few minutes for ever)."""
    try:
        return at + by
    except OverflowError:
        return NEVER if by >= timedelta(0) else datetime.min.replace(tzinfo=UTC)


def wake_at(step: Step, enrolment: Enrolment, started: datetime, tz: tzinfo) -> datetime:
    """When a wait step that started at `started` is over (a `wait_event` times out).
    A `wait_until` whose anchor the enrolment lacks counts from its entry."""
    if step.type is StepType.WAIT_UNTIL:
        base = enrolment.anchors.get(step.anchor or "", enrolment.entered_at)
        return later(base, step.delay)
    if step.type is StepType.WAIT_LOCAL_TIME:
        return next_local_time(started, tz, step.hour, step.minute)
    return later(started, step.delay)


def next_occurrence(day: datetime, now: datetime, offset_days: int, yearly: bool) -> datetime:
    """A date trigger's entry time: the date plus the offset; yearly, the next such day
    that is not past (a 29 February falls on 28 February in other years)."""
    target = later(day, timedelta(days=offset_days))
    if not yearly:
        return target
    for year in (now.year, now.year + 1):
        try:
            moved = day.replace(year=year)
        except ValueError:
            moved = day.replace(year=year, day=28)
        candidate = later(moved, timedelta(days=offset_days))
        if candidate >= now - timedelta(days=1):
            return candidate
    return target


OWN_TIME = {
    "order.placed": "placed_at",
    "cart.updated": "updated_at",
    "product.viewed": "viewed_at",
}
"""The detail field saying when the event happened, for the events whose time decides
what they may do in a journey: an order ends or converts only the enrolments it comes
after, a cart's wait counts from its change. Others happen when they are heard."""
LATE_EVENT_AFTER = timedelta(hours=24)
"""A cart or a product view heard this long after it happened starts (or restarts,
resumes) no flow: it is a replayed or backed-up history, and its mails would come a day
late. The same day as the welcome's `late` skip (`model.WELCOME_LATE_AFTER`) and the
step mails' (`LATE_SEND_AFTER`)."""
LATE_TRIGGERS = frozenset({"cart.updated", "product.viewed"})
"""Triggers that a late event (`LATE_EVENT_AFTER`) does not fire. An old `order.placed`
still enrols (its own sends are skipped late, and counted so, by the runner)."""


def iso_time(raw: object, naive: tzinfo | None) -> datetime | None:
    """An ISO time from an event's detail, in its own zone; one without a zone is taken
    in `naive` (None: not a time to trust). None when it is not a time at all."""
    if not isinstance(raw, str):
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if at.tzinfo is None:
        return at.replace(tzinfo=naive) if naive is not None else None
    return at


def occurred_at(event_type: str, detail: Mapping[str, Any], heard: datetime) -> datetime:
    """When the event happened by its own detail (`OWN_TIME`), never after it was heard
    (a storefront clock ahead of ours); `heard` for other events or an unreadable time.
    Always in UTC: the storefront's offset (`+09:00`) must not reach what is stored and
    compared later (a cart's `at`)."""
    field = OWN_TIME.get(event_type)
    own = iso_time(detail.get(field), None) if field else None
    return min(own, heard).astimezone(UTC) if own is not None else heard.astimezone(UTC)


def late(event_type: str, occurred: datetime, heard: datetime) -> bool:
    """Whether a trigger was heard too late to fire (`LATE_TRIGGERS`, `LATE_EVENT_AFTER`)."""
    return event_type in LATE_TRIGGERS and heard - occurred > LATE_EVENT_AFTER
