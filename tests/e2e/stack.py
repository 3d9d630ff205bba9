"""What every end-to-end module needs: a running local stack and a shop with a key.

The stack starts without its scheduler (tests drive time), and its stop clears the
settings cache, since the stack points the settings at its own moto server."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ops.local.stack import LocalStack, find_template
from shared import aws
from shared.auth.service import authenticate_token, create_key, create_shop
from shared.auth.store import DynamoKeyStore
from shared.settings import get_settings


@contextmanager
def running_stack(state_dir: Path | None = None) -> Iterator[LocalStack]:
    """A started local stack, stopped (and its settings forgotten) on the way out."""
    local = LocalStack(find_template(), state_dir=state_dir, auto_schedule=False)
    local.start()
    try:
        yield local
    finally:
        local.stop()
        get_settings.cache_clear()


def _key_store() -> DynamoKeyStore:
    settings = get_settings()
    client = aws.client(aws.session(settings.aws_region), "dynamodb")
    return DynamoKeyStore(client, settings.platform_table)


def open_shop(shop_id: str, *keys: tuple[str, Sequence[str]]) -> list[str]:
    """Create the shop on the running stack: its first (admin) token, then one token per
    `(name, scopes)` asked for, in that order."""
    store = _key_store()
    first = create_shop(store, shop_id, shop_id.title()).token
    admin = authenticate_token(store, first)
    return [first, *(create_key(store, admin, name, list(scopes)).token for name, scopes in keys)]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
