"""The erasure log: one record per erasure in each service's own table, so the status of
an erasure can be read per service (`GET /v1/erasures/{erasure_id}` on each API).

The record is the audit trail: who asked (an API key id), when, and how many items of
each kind were removed or anonymised. While the erasure runs it also holds the customer
ids it covers, so a retry after a crash resumes it; they are dropped when it is done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.dynamodb import from_item, key, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class ErasureRecord:
    erasure_id: str
    service: str
    status: str
    """`in_progress` (removing; customer_ids kept to resume), `erased` (removed; the event
    to other services not yet out) or `done` (customer_ids dropped)."""
    requested_by: str
    requested_at: datetime
    customer_ids: tuple[str, ...] = ()
    removed: dict[str, int] = field(default_factory=dict)
    completed_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        """What the status route shows: never the customer ids."""
        return {
            "erasure_id": self.erasure_id,
            "service": self.service,
            "status": self.status,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "removed": dict(sorted(self.removed.items())),
        }


class ErasureLog:
    """The port."""

    def get(self, shop_id: str, erasure_id: str) -> ErasureRecord | None:
        raise NotImplementedError

    def put(self, shop_id: str, record: ErasureRecord) -> None:
        raise NotImplementedError


def _pk(shop_id: str, erasure_id: str) -> str:
    return f"SHOP#{shop_id}#ERASURE#{erasure_id}"


class DynamoErasureLog(ErasureLog):
    def __init__(self, client: DynamoDBClient, table: str, service: str) -> None:
        self._client = client
        self._table = table
        self.service = service

    def get(self, shop_id: str, erasure_id: str) -> ErasureRecord | None:
        got = self._client.get_item(
            TableName=self._table, Key=key(_pk(shop_id, erasure_id), "ERASURE"), ConsistentRead=True
        ).get("Item")
        if not got:
            return None
        d = from_item(got)
        completed = d.get("completed_at")
        return ErasureRecord(
            erasure_id=erasure_id,
            service=self.service,
            status=str(d["status"]),
            requested_by=str(d["requested_by"]),
            requested_at=datetime.fromisoformat(str(d["requested_at"])),
            customer_ids=tuple(d.get("customer_ids") or ()),
            removed={k: int(v) for k, v in (d.get("removed") or {}).items()},
            completed_at=datetime.fromisoformat(str(completed)) if completed else None,
        )

    def put(self, shop_id: str, record: ErasureRecord) -> None:
        data: dict[str, Any] = {
            "pk": _pk(shop_id, record.erasure_id),
            "sk": "ERASURE",
            "status": record.status,
            "requested_by": record.requested_by,
            "requested_at": record.requested_at.isoformat(),
            "removed": record.removed,
        }
        if record.customer_ids:
            data["customer_ids"] = list(record.customer_ids)
        if record.completed_at:
            data["completed_at"] = record.completed_at.isoformat()
        self._client.put_item(TableName=self._table, Item=to_item(data))
