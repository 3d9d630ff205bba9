"""Admin routes for a shop's own API keys (scope `admin`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import ConfigDict, Field

from shared.auth import service
from shared.auth.keys import ApiKey
from shared.auth.store import KeyStore
from shared.http.app import container_of
from shared.http.paging import (
    PAGED_LIST,
    Page,
)
from shared.http.security import Admin
from shared.http.types import Schema

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class KeyCreate(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=10)


class KeyPublic(Schema):
    key_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, k: ApiKey) -> KeyPublic:
        return cls(
            key_id=k.key_id,
            name=k.name,
            scopes=sorted(k.scopes),
            created_at=k.created_at,
            revoked_at=k.revoked_at,
        )


class KeyCreatedPublic(KeyPublic):
    token: str = Field(description="Shown once. Kizuna stores only a hash of it.")


def _keys(request: Request) -> KeyStore:
    store: KeyStore = container_of(request).keys
    return store


Keys = Annotated[KeyStore, Depends(_keys)]


@router.post("/keys", status_code=201)
def create_key(body: KeyCreate, principal: Admin, keys: Keys) -> KeyCreatedPublic:
    issued = service.create_key(keys, principal, body.name, body.scopes)
    return KeyCreatedPublic(**KeyPublic.of(issued.key).model_dump(), token=issued.token)


@router.get("/keys", responses=PAGED_LIST)
def list_keys(
    principal: Admin,
    keys: Keys,
    page: Page,
) -> list[KeyPublic]:
    """The shop's API keys by id, one page at a time (`X-Next-Cursor` → `cursor`)."""
    found, after = service.list_keys(keys, principal, page.limit, page.position)
    page.next(after)
    return [KeyPublic.of(k) for k in found]


@router.delete("/keys/{key_id}")
def revoke_key(key_id: str, principal: Admin, keys: Keys) -> KeyPublic:
    return KeyPublic.of(service.revoke_key(keys, principal, key_id))
