"""The erasure status route every service mounts (scope `admin`): this service's part of
an erasure, read from its own erasure log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from shared.adapters.erasures import ErasureLog
from shared.errors import NotFound
from shared.http.app import container_of
from shared.http.security import Admin

router = APIRouter(prefix="/v1", tags=["rights"])


@router.get("/erasures/{erasure_id}")
def get_erasure(erasure_id: str, principal: Admin, request: Request) -> dict[str, Any]:
    """`in_progress` or `done`, who asked and when, and how many items of each kind this
    service removed or anonymised (no personal data)."""
    log: ErasureLog = container_of(request).erasures
    record = log.get(principal.shop_id, erasure_id)
    if record is None:
        raise NotFound("erasure not found", field="erasure_id")
    return record.public()
