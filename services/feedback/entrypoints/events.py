"""Feedback event handler: EventBridge rules and the restock-waves schedule (no Mangum).

- `inventory.changed`: keeps the latest stock; 0 → positive starts a restock release.
- `order.placed`: counts purchases of released SKUs within the early-access window.
- `segment.entered` / `segment.exited`: the feedback service's own copy of membership,
  stored on each survey response so results can be read by segment.
- `customer.erased`: the person's answers and sign-ups go.
- `customer.merged`: the merged-away ids' answers and sign-ups move to the survivor.
"""

from __future__ import annotations

from typing import Any

from feedback import bootstrap
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.events_handler import LazyContainer, dispatch

container = LazyContainer(bootstrap.build)
reset = container.reset


def on_inventory_changed(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.InventoryChanged)
    return container().restock.on_inventory_changed(
        envelope.shop,
        envelope.id,
        envelope.time,
        detail.sku,
        detail.previous_quantity,
        detail.quantity,
    )


def on_order_placed(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.OrderPlaced)
    return container().restock.on_order_placed(envelope.shop, detail)


def on_segment_changed(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.SegmentMembershipChanged)
    member = envelope.type == "segment.entered"
    applied = container().surveys.record_membership(
        envelope.shop, detail.customer_id, detail.segment_id, member, envelope.time
    )
    return {"segment_id": detail.segment_id, "member": member, "applied": applied}


def restock_waves() -> dict[str, Any]:
    return container().restock.run_due_waves()


def on_customer_erased(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """An admin erased the person: their answers and sign-ups go (idempotent)."""
    assert isinstance(detail, details.CustomerErased)
    record = container().rights.erased(envelope.shop, detail)
    return {"erasure_id": record.erasure_id, "status": record.status}


def on_customer_merged(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """Profiles proved one person: their answers and sign-ups follow the survivor."""
    assert isinstance(detail, details.CustomerMerged)
    moved = container().merges.merged(envelope.shop, detail.customer_id, detail.merged_ids)
    return {"customer_id": detail.customer_id, "moved": moved}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event,
        events={
            "inventory.changed": on_inventory_changed,
            "order.placed": on_order_placed,
            "segment.entered": on_segment_changed,
            "segment.exited": on_segment_changed,
            "customer.erased": on_customer_erased,
            "customer.merged": on_customer_merged,
        },
        schedules={"restock-waves": restock_waves},
    )
