"""Feedback event handler: inventory changes (restock releases arrive with that capability)."""

from __future__ import annotations

from typing import Any

from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.events_handler import dispatch


def on_inventory_changed(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.InventoryChanged)
    restocked = detail.previous_quantity <= 0 < detail.quantity
    return {"sku": detail.sku, "restocked": restocked, "releases_started": 0}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(event, events={"inventory.changed": on_inventory_changed}, schedules={})
