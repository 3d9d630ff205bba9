"""The personal-data routes a consuming service mounts under its own prefix (scope
`admin`): its part of a person's disclosure, and its status of an erasure. The segmenter,
which takes the requests, has its own under `/v1/customers`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from shared.errors import NotFound
from shared.http.app import container_of
from shared.http.deferred import deferred_router
from shared.http.security import Admin


def router(prefix: str, service: str) -> APIRouter:
    """The two routes under `prefix`, each built on first use. Their endpoints take the
    service's name (in logs); the routes keep the names they are documented by."""
    routes = deferred_router(prefix=prefix, tags=["rights"])

    @routes.get("/erasures/{erasure_id}", name="get_erasure")
    def get_erasure(erasure_id: str, principal: Admin, request: Request) -> dict[str, Any]:
        """`in_progress` or `done`, who asked and when, and how many items of each kind
        this service removed or anonymised (no personal data)."""
        record = container_of(request).erasures.get(principal.shop_id, erasure_id)
        if record is None:
            raise NotFound("erasure not found", field="erasure_id")
        public: dict[str, Any] = record.public()
        return public

    @routes.get("/customers/{customer_id:path}/export", name="export_customer")
    def export_customer(customer_id: str, principal: Admin, request: Request) -> dict[str, Any]:
        """Disclosure (APPI 開示請求, GDPR access): everything this service holds on the
        person, as stored (empty lists when it holds nothing)."""
        found: dict[str, Any] = container_of(request).rights.export(principal.shop_id, customer_id)
        return found

    get_erasure.__name__ = f"get_{service}_erasure"
    export_customer.__name__ = f"export_{service}_customer"
    return routes
