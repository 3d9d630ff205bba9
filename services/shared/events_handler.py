"""The shape every service's EventBridge/schedule Lambda handler shares.

Lambda calls `handler(event, context)` with either an EventBridge event (carrying a
Kizuna envelope in `detail`) or a schedule's constant Input (`{"schedule": name}`).
Mangum cannot take either, so these handlers never go through FastAPI.

When a handler raises, where the event ends up depends on where it runs. On AWS the
rule hands the event to Lambda asynchronously: Lambda retries it twice, then the
function's on-failure destination (`EventInvokeConfig` in the template) sends it to the
DLQ. The rule's `DeadLetterConfig` only catches events EventBridge could not hand to
Lambda at all. In the local stack the function's queue redelivers it, then redrives it
to the same DLQ.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from shared.contracts.catalog import parse_detail
from shared.contracts.envelope import EventEnvelope
from shared.log import configure_logging, get_logger

EventRoute = Callable[[EventEnvelope, Any], dict[str, Any]]
ScheduleRoute = Callable[[], dict[str, Any]]

_log = get_logger("kizuna.events")
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class UnroutableEvent(ValueError):
    """An event this function has no route for: a wiring mistake, so it fails loudly
    (retried, then sent to the DLQ) instead of being dropped."""


class MalformedEvent(ValueError):
    """An event that breaks its envelope or detail contract. The message names the event,
    the failing fields and the error types only: the Lambda runtime logs it, and pydantic's
    own message quotes the input values (email addresses, phone numbers)."""


def _plain(part: object) -> str:
    """A field name or index as it is; anything else (a dict key taken from the input,
    which may be personal data) as `*`."""
    text = str(part)
    return text if isinstance(part, int) or _PLAIN_NAME.match(text) else "*"


def _malformed(event: Mapping[str, Any], err: Exception, prefix: str = "") -> MalformedEvent:
    event_id, event_type = _plain(event.get("id")), _plain(event.get("detail-type"))
    if isinstance(err, ValidationError):
        problems = [
            prefix + ".".join(_plain(p) for p in e["loc"]) + f" ({e['type']})"
            for e in err.errors(include_url=False, include_context=False, include_input=False)
        ]
    else:  # a KeyError: the event has no `detail`
        problems = [f"{_plain(err.args[0]) if err.args else '?'} (missing)"]
    return MalformedEvent(
        f"event {event_id} ({event_type}) does not match its contract: {'; '.join(problems)}"
    )


C = TypeVar("C")


class LazyContainer(Generic[C]):
    """A service's container for its event handler: one per warm Lambda, built on the
    first event (never at import), and replaceable by a test's."""

    def __init__(self, build: Callable[[], C]) -> None:
        self._build = build
        self.current: C | None = None

    def __call__(self) -> C:
        if self.current is None:
            self.current = self._build()
        return self.current

    def use(self, built: C | None) -> None:
        """Wire a container (tests pass one with fakes; None builds afresh next time)."""
        self.current = built

    def reset(self) -> None:
        """Build afresh on the next event: each handler module exposes this as its
        `reset`, which the local stack and tests call after they change the environment."""
        self.current = None


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
    except (KeyError, ValidationError) as err:
        raise _reported(_malformed(event, err)) from None
    try:
        detail: BaseModel = parse_detail(envelope)
    except ValidationError as err:
        raise _reported(_malformed(event, err, prefix="detail.")) from None
    route = events.get(envelope.type)
    if route is None:
        raise UnroutableEvent(f"no route for event type {envelope.type!r}")
    _log.info(
        "event received",
        extra={"event_id": envelope.id, "type": envelope.type, "shop": envelope.shop},
    )
    return route(envelope, detail)


def _reported(error: MalformedEvent) -> MalformedEvent:
    # A malformed event will never become valid; it is raised all the same so that it
    # ends in the DLQ (after the retries) where someone can look at it.
    _log.error("malformed event", extra={"error": str(error)})
    return error
