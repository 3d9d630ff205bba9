"""Opening a shop: what every way of creating one (`kizuna shop create`, `make demo`) does,
so none of them leaves a step out."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.auth.service import IssuedKey
    from shared.settings import Settings


def open_shop(settings: Settings, shop_id: str, name: str) -> IssuedKey:
    """The shop and its first admin key; then the messenger reads the new shop's week tiles
    from their partitions from this week on (nothing of it was counted by older code)."""
    from messenger import bootstrap as messenger_bootstrap
    from shared import aws
    from shared.auth.service import create_shop
    from shared.auth.store import DynamoKeyStore

    store = DynamoKeyStore(
        aws.client(aws.session(settings.aws_region), "dynamodb"), settings.platform_table
    )
    issued = create_shop(store, shop_id, name)
    messenger_bootstrap.build(settings).week.new_shop(shop_id)
    return issued
