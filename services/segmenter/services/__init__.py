"""Segmenter use cases (ingest, segments, audiences), called by thin routes and handlers."""

from segmenter.services.ingest import (
    Ingest,
    Ingested,
    change_inventory,
    change_order_status,
    check_command,
    get_order,
    get_profile,
    ingest_command,
    list_customer_orders,
    list_profiles,
    record_engagement,
    record_order,
    record_preferences,
    record_view,
    update_cart,
    upsert_customer,
)

__all__ = [
    "Ingest",
    "Ingested",
    "change_inventory",
    "change_order_status",
    "check_command",
    "get_order",
    "get_profile",
    "ingest_command",
    "list_customer_orders",
    "list_profiles",
    "record_engagement",
    "record_order",
    "record_preferences",
    "record_view",
    "update_cart",
    "upsert_customer",
]
