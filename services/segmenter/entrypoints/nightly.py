"""The nightly recompute's fan-out steps (NightlyFunction), each a Task of the template's
NightlyRecomputeMachine: `{"step": "plan" | "rank" | "pools" | "apply" | "finish", ...}`
as the state machine's Parameters pass them. One call into `NightlyFanout` each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from segmenter import bootstrap
from shared.events_handler import LazyContainer

container = LazyContainer(bootstrap.build)
reset = container.reset


def plan(event: dict[str, Any]) -> dict[str, Any]:
    """The execution's input may name `resume` (a failed run's start instant): that run
    again, doing only what is not done."""
    given = event.get("input") or {}
    started = datetime.fromisoformat(given.get("resume") or event["started"])
    return container().nightly.plan(started, int(given.get("total_segments", 16)))


def rank(event: dict[str, Any]) -> dict[str, Any]:
    now = datetime.fromisoformat(event["now"])
    return container().nightly.rank(event["run"], now, event["segment"], event["total"])


def pools(event: dict[str, Any]) -> dict[str, Any]:
    return container().nightly.pools(event["run"], event["total"])


def apply(event: dict[str, Any]) -> dict[str, Any]:
    now = datetime.fromisoformat(event["now"])
    return container().nightly.apply(event["run"], now, event["segment"], event["total"])


def finish(event: dict[str, Any]) -> dict[str, Any]:
    now = datetime.fromisoformat(event["now"])
    return container().nightly.finish(event["run"], now, event["total"])


STEPS = {"plan": plan, "rank": rank, "pools": pools, "apply": apply, "finish": finish}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return STEPS[event["step"]](event)
