"""Admin routes for a shop's own API keys and console sessions (scope `admin`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from pydantic import ConfigDict, Field

from shared.auth import service
from shared.auth.keys import ApiKey
from shared.auth.sessions import SessionRecord
from shared.auth.store import KeyStore
from shared.http.app import container_of
from shared.http.deferred import deferred_router
from shared.http.paging import (
    PAGED_LIST,
    Page,
)
from shared.http.security import Admin
from shared.http.types import Schema

router = deferred_router(prefix="/v1/admin", tags=["admin"])


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


class SessionPublic(Schema):
    """A console session, without anything that could open it."""

    session_id: str
    key_id: str
    """The API key it was opened with, or `link` for a `kizuna dashboard link`."""
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    """Signed out or revoked (null while it may still be used, until `expires_at`)."""

    @classmethod
    def of(cls, r: SessionRecord) -> SessionPublic:
        return cls(
            session_id=r.session_id,
            key_id=r.key_id,
            created_at=r.created_at,
            expires_at=r.expires_at,
            ended_at=r.ended_at,
        )


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


@router.get("/sessions", responses=PAGED_LIST)
def list_sessions(principal: Admin, keys: Keys, page: Page) -> list[SessionPublic]:
    """The shop's console sessions by id, one page at a time (`X-Next-Cursor` → `cursor`)."""
    found, after = service.list_sessions(keys, principal, page.limit, page.position)
    page.next(after)
    return [SessionPublic.of(r) for r in found]


@router.delete("/sessions/{session_id}")
def revoke_session(session_id: str, principal: Admin, keys: Keys) -> SessionPublic:
    """End a console session now: its cookie opens nothing after (revoking its key ends
    every session opened with that key, too)."""
    return SessionPublic.of(service.revoke_session(keys, principal, session_id))
