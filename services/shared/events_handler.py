"""The shape every service's EventBridge/schedule Lambda handler shares.

Lambda calls `handler(event, context)` with either an EventBridge event (carrying a
Kizuna envelope in `detail`) or a schedule's constant Input (`{"schedule": name}`).
Mangum cannot take either, so these handlers never go through FastAPI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.contracts.catalog import parse_detail
from shared.contracts.envelope import EventEnvelope
from shared.log import configure_logging, get_logger

EventRoute = Callable[[EventEnvelope, Any], dict[str, Any]]
ScheduleRoute = Callable[[], dict[str, Any]]

_log = get_logger("kizuna.events")


class UnroutableEvent(ValueError):
    """An event this function has no route for: a wiring mistake, so it fails loudly
    (and lands in the DLQ) instead of being dropped."""


def dispatch(
    event: Mapping[str, Any],
    *,
    events: Mapping[str, EventRoute],
    schedules: Mapping[str, ScheduleRoute],
) -> dict[str, Any]:
    configure_logging()
    if "schedule" in event:
        name = str(event["schedule"])
        if name not in schedules:
            raise UnroutableEvent(f"no schedule named {name!r}")
        _log.info("schedule fired", extra={"schedule": name})
        return schedules[name]()
    try:
        envelope = EventEnvelope.from_eventbridge(dict(event))
        detail: BaseModel = parse_detail(envelope)
    except (KeyError, ValidationError) as err:
        # A malformed event will never become valid: report it and let it go to the DLQ.
        _log.error(
            "malformed event", extra={"event_id": event.get("id"), "error": type(err).__name__}
        )
        raise
    route = events.get(envelope.type)
    if route is None:
        raise UnroutableEvent(f"no route for event type {envelope.type!r}")
    _log.info(
        "event received",
        extra={"event_id": envelope.id, "type": envelope.type, "shop": envelope.shop},
    )
    return route(envelope, detail)
