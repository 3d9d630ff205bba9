"""Journey JSON in, a validated `Journey` out; every refusal names the JSON path
(`steps.d3.days`), so the API answers a 422 that says what to fix. Pure domain.

Checked here: shape and types, unknown step types, successors that name no step, a
cycle, a step no path reaches, negative waits, times of day, the holdout percentage.
Checked by the service (it needs storage): that each message, coupon pool, insert and
segment exists.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from messenger.domain.journeys.definition import (
    SEND_SLOTS,
    Goal,
    Journey,
    Reentry,
    ReentryMode,
    Step,
    StepType,
    Trigger,
)
from messenger.domain.journeys.filters import FilterError, parse_filter

JourneyError = FilterError
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Paths under /v1/journeys/ that are routes of their own: a journey with one of these ids
# could never be read or changed by `/v1/journeys/{journey_id}`.
_RESERVED_JOURNEY_IDS = frozenset({"builtins", "enrolments", "products", "validate"})
MAX_STEPS = 200
MAX_WAIT_DAYS = 3660
KNOWN_KEYS = frozenset(
    {
        "journey_id",
        "name",
        "trigger",
        "entry_filter",
        "flow_filter",
        "start",
        "steps",
        "exit_events",
        "goal",
        "reentry",
        "holdout_percent",
        "topic",
    }
)


def parse_journey(body: object, shop_id: str, events: frozenset[str], version: int = 1) -> Journey:
    """The journey a JSON body describes, or a `JourneyError` naming the first bad path.
    `events` are the event types journeys hear (the service's list: the domain imports
    no contracts)."""
    if not isinstance(body, Mapping):
        raise JourneyError("<journey>", "expected an object")
    for k in body:
        if k not in KNOWN_KEYS:
            raise JourneyError(str(k), "unknown field")
    journey_id = _identifier(body.get("journey_id"), "journey_id")
    if journey_id in _RESERVED_JOURNEY_IDS:
        raise JourneyError(
            "journey_id", f"'{journey_id}' names a route under /v1/journeys; choose another id"
        )
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise JourneyError("name", "expected a name of 1-200 characters")
    steps = _steps(body.get("steps"), events)
    start = body.get("start")
    if not isinstance(start, str) or start not in steps:
        raise JourneyError("start", "expected the id of a step")
    _check_graph(start, steps)
    trigger = _trigger(body.get("trigger"), events)
    for step in steps.values():
        if step.same_key and trigger.key is None:
            raise JourneyError(f"steps.{step.step_id}.same_key", "needs a trigger with a key")
    if trigger.restart_wait and steps[start].type is not StepType.WAIT:
        raise JourneyError("trigger.restart_wait", "needs a start step of type wait")
    holdout = body.get("holdout_percent", 0)
    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 <= holdout <= 50:
        raise JourneyError("holdout_percent", "expected a number from 0 to 50")
    topic = body.get("topic")
    if topic is not None and (not isinstance(topic, str) or not _ID.match(topic)):
        raise JourneyError("topic", "expected a topic id")
    return Journey(
        journey_id=journey_id,
        shop_id=shop_id,
        name=name.strip(),
        trigger=trigger,
        start=start,
        steps=steps,
        entry_filter=_optional_filter(body, "entry_filter"),
        flow_filter=_optional_filter(body, "flow_filter"),
        exit_events=frozenset(_events(body.get("exit_events", []), "exit_events", events)),
        goal=_goal(body.get("goal"), events),
        reentry=_reentry(body.get("reentry")),
        holdout_percent=float(holdout),
        topic=topic,
        version=version,
        source=dict(body),
    )


def _identifier(value: object, path: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise JourneyError(path, "expected 1-64 letters, digits, '-' or '_'")
    return value


def _event(value: object, path: str, events: frozenset[str]) -> str:
    if not isinstance(value, str) or value not in events:
        raise JourneyError(
            path, f"expected an event type journeys hear: {', '.join(sorted(events))}"
        )
    return value


def _events(value: object, path: str, events: frozenset[str]) -> list[str]:
    if not isinstance(value, list):
        raise JourneyError(path, "expected a list of event types")
    return [_event(v, f"{path}[{i}]", events) for i, v in enumerate(value)]


def _optional_filter(body: Mapping[str, Any], key: str) -> Any:
    return None if body.get(key) is None else parse_filter(body[key], key)


def _trigger(obj: object, events: frozenset[str]) -> Trigger:
    if not isinstance(obj, Mapping):
        raise JourneyError("trigger", "expected an object with event, segment or date_field")
    kinds = [k for k in ("event", "segment", "date_field") if obj.get(k) is not None]
    if len(kinds) != 1:
        raise JourneyError("trigger", "expected exactly one of event, segment, date_field")
    key = obj.get("key")
    if key is not None and (not isinstance(key, str) or not key):
        raise JourneyError("trigger.key", "expected a detail field name (e.g. order_id)")
    kind = kinds[0]
    restart = obj.get("restart_wait", False)
    if not isinstance(restart, bool) or (restart and (kind != "event" or key is None)):
        raise JourneyError(
            "trigger.restart_wait", "expected true or false (true: an event with a key)"
        )
    if kind == "event":
        event = _event(obj["event"], "trigger.event", events)
        return Trigger(event=event, key=key, restart_wait=restart)
    if kind == "segment":
        return Trigger(segment=_identifier(obj["segment"], "trigger.segment"), key=key)
    offset = obj.get("offset_days", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > 366:
        raise JourneyError("trigger.offset_days", "expected whole days from -366 to 366")
    source = obj.get("source", "customer.upserted")
    return Trigger(
        date_field=_identifier(obj["date_field"], "trigger.date_field"),
        source=_event(source, "trigger.source", events),
        offset_days=offset,
        yearly=bool(obj.get("yearly", False)),
        key=key,
    )


def _goal(obj: object, events: frozenset[str]) -> Goal | None:
    if obj is None:
        return None
    if not isinstance(obj, Mapping):
        raise JourneyError("goal", "expected an object with event and days")
    days = obj.get("days", 30)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        raise JourneyError("goal.days", "expected whole days from 1 to 365")
    return Goal(_event(obj.get("event"), "goal.event", events), timedelta(days=days))


def _reentry(obj: object) -> Reentry:
    if obj is None:
        return Reentry()
    if not isinstance(obj, Mapping):
        raise JourneyError("reentry", "expected an object with mode")
    try:
        mode = ReentryMode(str(obj.get("mode")))
    except ValueError:
        raise JourneyError(
            "reentry.mode", f"expected one of {[m.value for m in ReentryMode]}"
        ) from None
    days = obj.get("days", 0)
    if mode is ReentryMode.EVERY_DAYS and (
        isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650
    ):
        raise JourneyError("reentry.days", "expected whole days from 1 to 3650")
    return Reentry(mode, int(days) if mode is ReentryMode.EVERY_DAYS else 0)


def _steps(obj: object, events: frozenset[str]) -> dict[str, Step]:
    if not isinstance(obj, Mapping) or not obj:
        raise JourneyError("steps", "expected an object of steps by id")
    if len(obj) > MAX_STEPS:
        raise JourneyError("steps", f"at most {MAX_STEPS} steps")
    steps = {}
    for step_id, raw in obj.items():
        path = f"steps.{step_id}"
        _identifier(step_id, path)
        steps[step_id] = _step(step_id, raw, path, events)
    for step_id, step in steps.items():
        for name in ("next", "timeout_next", "else_next"):
            target = getattr(step, name)
            if target is not None and target not in steps:
                raise JourneyError(f"steps.{step_id}.{name}", f"no step {target!r}")
        for i, (_, target) in enumerate(step.variants):
            if target not in steps:
                raise JourneyError(f"steps.{step_id}.variants[{i}].next", f"no step {target!r}")
    return steps


def _step(step_id: str, raw: object, path: str, events: frozenset[str]) -> Step:
    if not isinstance(raw, Mapping):
        raise JourneyError(path, "expected an object")
    try:
        kind = StepType(str(raw.get("type")))
    except ValueError:
        raise JourneyError(
            f"{path}.type", f"unknown step type; expected one of {[t.value for t in StepType]}"
        ) from None
    nxt = raw.get("next")
    if nxt is not None and not isinstance(nxt, str):
        raise JourneyError(f"{path}.next", "expected a step id")
    base = Step(step_id=step_id, type=kind, next=nxt)
    needs_next = kind not in (StepType.EXIT, StepType.SPLIT)
    if needs_next and nxt is None and kind not in (StepType.SEND, StepType.TAG, StepType.INSERT):
        raise JourneyError(f"{path}.next", "missing")
    if kind in _WAITS:
        return _wait_step(base, raw, path, events)
    if kind is StepType.SEND:
        slots = raw.get("slots", [])
        if not isinstance(slots, list) or any(x not in SEND_SLOTS for x in slots):
            raise JourneyError(f"{path}.slots", f"expected a list of {sorted(SEND_SLOTS)}")
        pool = raw.get("coupon_pool")
        return _with(
            base,
            message_id=_identifier(raw.get("message_id"), f"{path}.message_id"),
            slots=tuple(dict.fromkeys(slots)),
            coupon_pool=None if pool is None else _identifier(pool, f"{path}.coupon_pool"),
        )
    if kind is StepType.BRANCH:
        else_next = raw.get("else_next")
        if not isinstance(else_next, str):
            raise JourneyError(f"{path}.else_next", "expected a step id")
        return _with(
            base,
            condition=parse_filter(raw.get("condition"), f"{path}.condition"),
            else_next=else_next,
        )
    if kind is StepType.SPLIT:
        return _with(base, variants=_variants(raw.get("variants"), path))
    if kind is StepType.TAG:
        return _with(base, tag=_identifier(raw.get("tag"), f"{path}.tag"))
    if kind is StepType.INSERT:
        return _with(base, insert_id=_identifier(raw.get("insert_id"), f"{path}.insert_id"))
    return base


_WAITS = frozenset(
    {StepType.WAIT, StepType.WAIT_UNTIL, StepType.WAIT_LOCAL_TIME, StepType.WAIT_EVENT}
)


def _wait_step(base: Step, raw: Mapping[str, Any], path: str, events: frozenset[str]) -> Step:
    kind = base.type
    if kind is StepType.WAIT:
        return _with(base, delay=_duration(raw, path, required=True))
    if kind is StepType.WAIT_UNTIL:
        anchor = raw.get("anchor")
        if not isinstance(anchor, str) or not anchor:
            raise JourneyError(f"{path}.anchor", "expected a time field (e.g. shipped_at)")
        return _with(base, anchor=anchor, delay=_duration(raw, path, required=False))
    if kind is StepType.WAIT_LOCAL_TIME:
        hour, minute = raw.get("hour"), raw.get("minute", 0)
        if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
            raise JourneyError(f"{path}.hour", "expected an hour from 0 to 23")
        if isinstance(minute, bool) or not isinstance(minute, int) or not 0 <= minute <= 59:
            raise JourneyError(f"{path}.minute", "expected a minute from 0 to 59")
        return _with(base, hour=hour, minute=minute)
    timeout_next = raw.get("timeout_next")  # wait_event
    if not isinstance(timeout_next, str):
        raise JourneyError(f"{path}.timeout_next", "expected a step id")
    same_key = raw.get("same_key", False)
    if not isinstance(same_key, bool):
        raise JourneyError(f"{path}.same_key", "expected true or false")
    return _with(
        base,
        event=_event(raw.get("event"), f"{path}.event", events),
        delay=_duration(raw, path, required=True),
        timeout_next=timeout_next,
        same_key=same_key,
    )


def _with(step: Step, **fields: Any) -> Step:
    return replace(step, **fields)


def _variants(obj: object, path: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(obj, list) or not 2 <= len(obj) <= 5:
        raise JourneyError(f"{path}.variants", "expected 2 to 5 variants")
    out = []
    for i, v in enumerate(obj):
        if not isinstance(v, Mapping):
            raise JourneyError(f"{path}.variants[{i}]", "expected {name, next}")
        name = _identifier(v.get("name"), f"{path}.variants[{i}].name")
        nxt = v.get("next")
        if not isinstance(nxt, str):
            raise JourneyError(f"{path}.variants[{i}].next", "expected a step id")
        out.append((name, nxt))
    if len({n for n, _ in out}) != len(out):
        raise JourneyError(f"{path}.variants", "variant names must differ")
    return tuple(out)


_PER_DAY = {"days": 1, "hours": 24, "minutes": 24 * 60}


def _duration(raw: Mapping[str, Any], path: str, *, required: bool) -> timedelta:
    """`days` / `hours` / `minutes` (each optional, none negative); a wait needs one."""
    parts = {}
    for unit in ("days", "hours", "minutes"):
        value = raw.get(unit)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise JourneyError(f"{path}.{unit}", "expected a number")
        if value < 0:
            raise JourneyError(f"{path}.{unit}", "a wait cannot be negative")
        if not math.isfinite(value) or value > MAX_WAIT_DAYS * _PER_DAY[unit]:
            # Checked before timedelta(), which overflows (a 500) on 1e10 days.
            raise JourneyError(f"{path}.{unit}", f"a wait is at most {MAX_WAIT_DAYS} days")
        parts[unit] = float(value)
    if required and not parts:
        raise JourneyError(f"{path}.days", "expected days, hours or minutes")
    delay = timedelta(**parts)
    if delay > timedelta(days=MAX_WAIT_DAYS):
        raise JourneyError(f"{path}.days", f"a wait is at most {MAX_WAIT_DAYS} days")
    return delay


def _check_graph(start: str, steps: Mapping[str, Step]) -> None:
    """No cycle (a person would loop for ever) and no step that nobody can reach."""
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(step_id: str, path: str) -> None:
        state[step_id] = 1
        step = steps[step_id]
        for name, target in _edges(step):
            if state.get(target) == 1:
                raise JourneyError(f"steps.{step_id}.{name}", f"cycle back to {target!r}")
            if target not in state:
                visit(target, f"steps.{step_id}.{name}")
        state[step_id] = 2

    visit(start, "start")
    for step_id in steps:
        if step_id not in state:
            raise JourneyError(f"steps.{step_id}", "unreachable from start")


def _edges(step: Step) -> list[tuple[str, str]]:
    edges = [
        (name, getattr(step, name))
        for name in ("next", "timeout_next", "else_next")
        if getattr(step, name) is not None
    ]
    edges += [(f"variants[{i}].next", n) for i, (_, n) in enumerate(step.variants)]
    return edges
