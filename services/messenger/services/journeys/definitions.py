"""Journey definitions: create, validate without saving, read, list, new version,
pause, resume, archive. Each saved change is a new version; people inside keep the
version they entered (see the README's edit policy)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from messenger.domain.journeys.builtins import SEGMENTER_BUILTIN_SEGMENTS
from messenger.domain.journeys.definition import Journey, JourneyStatus, StepType
from messenger.domain.journeys.filters import segments_of
from messenger.domain.journeys.records import Counter, JourneyHead, StaleEnrolment
from messenger.domain.journeys.validation import JourneyError, parse_journey
from messenger.services.journeys.book import (
    ABOUT_NO_PERSON,
    JOURNEY_EVENTS,
    JourneyBook,
    date_fields,
)
from messenger.services.journeys.intake import REPLENISH_ANCHOR, head_for
from messenger.services.messages import MessageLibrary
from messenger.services.ports import JourneyRepository
from shared.errors import Conflict, NotFound
from shared.log import get_logger

_log = get_logger("kizuna.messenger.journeys")


@dataclass(frozen=True)
class JourneyDefinitions:
    repo: JourneyRepository
    book: JourneyBook
    library: MessageLibrary
    has_segment: Callable[[str, str], bool]
    clock: Callable[[], datetime]
    has_pool: Callable[[str, str], bool] = lambda shop, pool: True
    has_insert: Callable[[str, str], bool] = lambda shop, insert: True

    def validate(self, shop_id: str, body: object, version: int = 1) -> Journey:
        """The journey the JSON describes, checked against the shop's messages, coupon
        pools, inserts and the segments the messenger knows (the segmenter's built-in ones exist
        in every shop, before anyone entered them); a 422 naming the JSON path otherwise."""
        journey = parse_journey(body, shop_id, JOURNEY_EVENTS, version)
        check_events(journey, body)
        for step in journey.steps.values():
            if step.type is StepType.INSERT and not self.has_insert(shop_id, step.insert_id or ""):
                raise JourneyError(
                    f"steps.{step.step_id}.insert_id", f"no insert {step.insert_id!r}"
                )
            if step.type is not StepType.SEND:
                continue
            if self.library.find(shop_id, step.message_id or "") is None:
                raise JourneyError(
                    f"steps.{step.step_id}.message_id", f"no message {step.message_id!r}"
                )
            if step.coupon_pool and not self.has_pool(shop_id, step.coupon_pool):
                raise JourneyError(
                    f"steps.{step.step_id}.coupon_pool", f"no coupon pool {step.coupon_pool!r}"
                )
        wanted: list[tuple[str, frozenset[str]]] = [
            ("entry_filter", segments_of(journey.entry_filter)),
            ("flow_filter", segments_of(journey.flow_filter)),
            ("trigger.segment", frozenset({journey.trigger.segment} - {None})),  # type: ignore[arg-type]
        ]
        wanted += [
            (f"steps.{s.step_id}.condition", segments_of(s.condition))
            for s in journey.steps.values()
        ]
        for path, segments in wanted:
            for seg in sorted(segments):
                if seg not in SEGMENTER_BUILTIN_SEGMENTS and not self.has_segment(shop_id, seg):
                    raise JourneyError(path, f"no segment {seg!r} known to the messenger")
        return journey

    def create(self, shop_id: str, body: object) -> tuple[JourneyHead, Journey]:
        journey = self.validate(shop_id, body)
        head = head_for(journey, self.clock(), JourneyStatus.ACTIVE.value)
        self.repo.create(head, journey.source)
        _log.info("journey created", extra={"journey_id": journey.journey_id})
        return replace(head, rev=1), journey

    def new_version(
        self, shop_id: str, journey_id: str, body: Mapping[str, Any]
    ) -> tuple[JourneyHead, Journey]:
        current = self.head(shop_id, journey_id)
        if current.status == JourneyStatus.ARCHIVED:
            raise Conflict("an archived journey takes no new versions", field="status")
        journey = self.validate(shop_id, {**body, "journey_id": journey_id}, current.version + 1)
        head = replace(
            current,
            name=journey.name,
            version=journey.version,
            enrols_on=journey.trigger.event_types,
            # Enrolments of older versions still listen to their own exits and waits.
            listens_to=current.listens_to | journey.listens_to,
            updated_at=self.clock(),
        )
        self.repo.add_version(head, journey.source)
        return replace(head, rev=head.rev + 1), journey

    def head(self, shop_id: str, journey_id: str) -> JourneyHead:
        found = self.repo.head(shop_id, journey_id)
        if found is None:
            raise NotFound(f"no journey {journey_id!r}", field="journey_id")
        return found

    def read(
        self, shop_id: str, journey_id: str, version: int | None = None
    ) -> tuple[JourneyHead, Journey]:
        head = self.head(shop_id, journey_id)
        journey = self.book.version(shop_id, journey_id, version or head.version)
        if journey is None:
            raise NotFound(f"journey has no version {version}", field="version")
        return head, journey

    def set_status(self, shop_id: str, journey_id: str, status: JourneyStatus) -> JourneyHead:
        """Pause (nobody enters, due steps wait), resume, or archive (nobody enters,
        people inside exit at their next step)."""
        for _ in range(5):
            head = self.head(shop_id, journey_id)
            if head.status == JourneyStatus.ARCHIVED:
                raise Conflict("journey is archived", field="status")
            if head.status == status:
                return head
            changed = replace(head, status=status.value, updated_at=self.clock())
            if self.repo.save_head(changed):
                if head.status == JourneyStatus.PAUSED:
                    self._unpark(shop_id, journey_id)
                return replace(changed, rev=head.rev + 1)
        raise Conflict("journey kept changing; try again", field="status")

    def _unpark(self, shop_id: str, journey_id: str) -> None:
        """Resumed or archived: each step parked while paused is due now again (the
        runner then sends it, or exits the person `archived`)."""
        now = self.clock()
        unparked = 0
        for e in self.repo.parked(shop_id, journey_id):
            back = replace(e, parked=False, due_at=now, seq=e.seq + 1)
            with contextlib.suppress(StaleEnrolment):  # moved meanwhile (an exit event)
                self.repo.advance(e, back, [Counter("J", {"unparked": 1})])
                unparked += 1
        _log.info("journey unparked", extra={"journey_id": journey_id, "count": unparked})


def check_events(journey: Journey, body: object) -> None:
    """What the events can give: a date trigger's date and a `wait_until`'s anchor are
    times the trigger's event carries; an event about no person (a SKU's stock) cannot
    end, convert or wake an enrolment."""
    trigger = journey.trigger
    if trigger.date_field is not None:
        source = trigger.source or "customer.upserted"
        known = date_fields(source)
        if trigger.date_field not in known:
            raise JourneyError(
                "trigger.date_field",
                f"{source} carries no date {trigger.date_field!r}; "
                f"its dates: {', '.join(sorted(known)) or 'none'}",
            )
    personless = [(f"exit_events[{i}]", t) for i, t in enumerate(body_events(body))]
    if journey.goal is not None:
        personless.append(("goal.event", journey.goal.event))
    personless += [
        (f"steps.{s.step_id}.event", s.event or "")
        for s in journey.steps.values()
        if s.type is StepType.WAIT_EVENT
    ]
    for path, event in personless:
        if event in ABOUT_NO_PERSON:
            raise JourneyError(
                path, f"{event} is about a SKU, not a person: it can only trigger a journey"
            )
    anchors = {"entered_at", REPLENISH_ANCHOR} | {
        f for t in trigger.event_types for f in date_fields(t) if f.endswith("_at")
    }
    for step in journey.steps.values():
        if step.type is StepType.WAIT_UNTIL and step.anchor not in anchors:
            raise JourneyError(
                f"steps.{step.step_id}.anchor",
                f"expected a time the trigger carries: {', '.join(sorted(anchors))}",
            )


def body_events(body: object) -> list[str]:
    """The exit events as written, in order (the parsed journey keeps them as a set)."""
    events = body.get("exit_events", []) if isinstance(body, Mapping) else []
    return [str(e) for e in events] if isinstance(events, list) else []
