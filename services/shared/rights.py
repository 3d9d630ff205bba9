"""Personal-data rights (APPI, GDPR): the names every service gives an erasure.

An erasure is recorded by a hash of the person's id, never the id itself, so the audit
trail (who asked, when, what was removed) holds no personal data."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.erasures import ErasureLog, ErasureRecord

if TYPE_CHECKING:
    from shared.contracts.details import CustomerErased

ERASED_CUSTOMER_PREFIX = "erased-"


def subject_hash(shop_id: str, value: str) -> str:
    """A one-way hash of a person's id or address within a shop (for audit and suppression
    records that must outlive the person's data)."""
    return hashlib.sha256(f"{shop_id}\x00{value}".encode()).hexdigest()


def erasure_id(shop_id: str, customer_id: str) -> str:
    """The same id for every request to erase the same person: retries are one erasure."""
    return "erasure-" + subject_hash(shop_id, customer_id)[:32]


def anonymous_customer(shop_id: str, customer_id: str) -> str:
    """What an erased person's kept records (orders' amounts) are filed under instead."""
    return ERASED_CUSTOMER_PREFIX + subject_hash(shop_id, "anon:" + customer_id)[:20]


class PersonalData:
    """The port each consuming service implements on its own store."""

    def export(self, shop_id: str, customer_ids: list[str]) -> dict[str, Any]:
        """Everything held on these ids, as JSON-ready dicts by kind."""
        raise NotImplementedError

    def erase(self, shop_id: str, customer_id: str) -> Iterator[dict[str, int]]:
        """Remove or anonymise what is held on the id; idempotent. Yields, step by step as
        each completes, how many items of each kind it removed this time (a repeat
        removes, and counts, nothing), so the caller can log what is done as it goes."""
        raise NotImplementedError


class Together(PersonalData):
    """Several stores of one service read and erased as one."""

    def __init__(self, *stores: PersonalData) -> None:
        self._stores = stores

    def export(self, shop_id: str, customer_ids: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for store in self._stores:
            out.update(store.export(shop_id, customer_ids))
        return out

    def erase(self, shop_id: str, customer_id: str) -> Iterator[dict[str, int]]:
        for store in self._stores:
            yield from store.erase(shop_id, customer_id)


class ConsumerRights:
    """A service's side of `customer.erased` and of disclosure: the erasure is run, and
    logged under its id (who asked, when, counts), however often the event arrives."""

    def __init__(
        self,
        service: str,
        data: PersonalData,
        log: ErasureLog,
        clock: Callable[[], datetime],
    ) -> None:
        self._service = service
        self._data = data
        self._log = log
        self._clock = clock

    def export(self, shop_id: str, customer_id: str) -> dict[str, Any]:
        return {"service": self._service, **self._data.export(shop_id, [customer_id])}

    def erased(self, shop_id: str, detail: CustomerErased) -> ErasureRecord:
        previous = self._log.get(shop_id, detail.erasure_id)
        record = ErasureRecord(
            erasure_id=detail.erasure_id,
            service=self._service,
            status="in_progress",
            requested_by=detail.requested_by,
            requested_at=detail.requested_at,
            removed=previous.removed if previous else {},
        )
        self._log.put(shop_id, record)
        for customer_id in detail.customer_ids:
            for step in self._data.erase(shop_id, customer_id):
                # Logged as each step completes, so a crash before the end loses no more
                # than the step under way: the redelivery counts what is left, once.
                record = replace(record, removed=added_counts(record.removed, step))
                if any(step.values()):
                    self._log.put(shop_id, record)
        done = replace(
            record,
            status="done",
            completed_at=previous.completed_at
            if previous and previous.completed_at and previous.removed == record.removed
            else self._clock(),
        )
        self._log.put(shop_id, done)
        return done


def added_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """An erasure's counts so far plus a step's, by kind."""
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted({*a, *b})}
