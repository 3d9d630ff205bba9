"""Personal-data rights (APPI 開示請求 / GDPR access and erasure) on the segmenter's side.

`export` discloses what the segmenter holds on a person. `erase` removes it (profile,
identity claims, memberships; orders kept anonymised for the shop's statistics), logs
the erasure without personal data, and publishes `customer.erased` so every other
service forgets the person too. The erasure id is derived from the id asked for, so a retried
request is the same erasure: it resumes what a crash left and publishes the same event
id, which consumers deduplicate. What each step removed is logged as the step completes,
so the `removed` the shop reads totals every attempt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from segmenter.domain.model import Profile
from segmenter.services.ingest import get_profile
from segmenter.services.ports import PersonalDataStore, ProfileStore
from shared.adapters.erasures import ErasureLog, ErasureRecord
from shared.adapters.eventbridge import EventPublisher
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.errors import NotFound
from shared.rights import added_counts, anonymous_customer, erasure_id

SERVICE = "segmenter"


class Rights:
    def __init__(
        self,
        profiles: ProfileStore,
        data: PersonalDataStore,
        log: ErasureLog,
        publisher: EventPublisher,
        clock: Callable[[], datetime],
    ) -> None:
        self._profiles = profiles
        self._data = data
        self._log = log
        self._publisher = publisher
        self._clock = clock

    def export(self, shop_id: str, customer_id: str) -> dict[str, Any]:
        """The person's profile (and the profiles merged into it) and orders, as stored."""
        ids = list(_ids(get_profile(self._profiles, shop_id, customer_id)))
        return {"customer_ids": ids, **self._data.export(shop_id, ids)}

    def erase(self, shop_id: str, customer_id: str, requested_by: str) -> ErasureRecord:
        """Erase the person here, then ask every service to (`customer.erased`)."""
        record = self._start(shop_id, customer_id, requested_by)
        if record.status == "in_progress":
            for cid in record.customer_ids:
                anonymous = anonymous_customer(shop_id, cid)
                for step in self._data.erase(shop_id, cid, anonymous):
                    # Each step counts only what it removed itself and is logged as it
                    # completes, so the total across a refused or crashed attempt and its
                    # retry is every item once; a crash between a step's deletes and its
                    # log loses at most that step's count (the retry finds them gone).
                    record = replace(record, removed=added_counts(record.removed, step))
                    if any(step.values()):
                        self._log.put(shop_id, record)
            record = replace(record, status="erased", completed_at=self._clock())
            self._log.put(shop_id, record)
        if record.status == "erased":
            # The ids are kept until the event is out, so a failed publish is retried.
            self._publisher.publish([self._event(shop_id, record)])
            record = replace(record, status="done", customer_ids=())
            self._log.put(shop_id, record)
        return record

    def _start(self, shop_id: str, customer_id: str, requested_by: str) -> ErasureRecord:
        """The erasure to run: a new one (logged as `in_progress` with the ids it covers,
        before anything is removed), or the one a crash left, or the finished one.
        Status: `in_progress` → `erased` (here; event not yet out) → `done`."""
        try:
            ids = _ids(get_profile(self._profiles, shop_id, customer_id))
        except NotFound:
            found = self._log.get(shop_id, erasure_id(shop_id, customer_id))
            if found is None:
                raise
            return found
        eid = erasure_id(shop_id, customer_id)
        previous = self._log.get(shop_id, eid)
        record = ErasureRecord(
            erasure_id=eid,
            service=SERVICE,
            status="in_progress",
            requested_by=previous.requested_by if previous else requested_by,
            requested_at=previous.requested_at if previous else self._clock(),
            customer_ids=tuple(dict.fromkeys((*(previous.customer_ids if previous else ()), *ids))),
            removed=previous.removed if previous else {},
        )
        self._log.put(shop_id, record)
        return record

    def _event(self, shop_id: str, record: ErasureRecord) -> EventEnvelope:
        detail = details.CustomerErased(
            erasure_id=record.erasure_id,
            customer_ids=list(record.customer_ids),
            requested_by=record.requested_by,
            requested_at=record.requested_at,
        )
        return EventEnvelope(
            id=record.erasure_id,
            shop=shop_id,
            type="customer.erased",
            time=self._clock(),
            detail=detail.model_dump(mode="json"),
        )

    def erasure_of(self, shop_id: str, customer_id: str) -> ErasureRecord:
        """The erasure of the person asked for by this id."""
        found = self._log.get(shop_id, erasure_id(shop_id, customer_id))
        if found is None:
            raise NotFound("erasure not found", field="erasure_id")
        return found


def _ids(profile: Profile) -> tuple[str, ...]:
    """The person's id and the ids merged into it, which the profile lists (`merged_ids`,
    kept through every merge), so each of their items is found by key, with no scan."""
    return (profile.customer_id, *sorted(profile.merged_ids))
