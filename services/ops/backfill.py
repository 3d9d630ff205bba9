"""`kizuna backfill`: the backfills of fields added after data was stored, for one shop,
against whatever AWS the environment points at (or the local stack)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from feedback import bootstrap as feedback_bootstrap
from messenger import bootstrap as messenger_bootstrap
from segmenter import bootstrap as segmenter_bootstrap
from segmenter.services.backfill import backfill_first_product, republish_orders_as_imported


class UnknownShop(LookupError):
    """The platform has no such shop (a typo would otherwise backfill nothing, silently)."""


def run_backfill(shop_id: str) -> dict[str, dict[str, Any]]:
    """Every backfill for the shop, with what each read and changed."""
    segmenter = segmenter_bootstrap.build()
    if segmenter.keys.get_shop(shop_id) is None:
        raise UnknownShop(shop_id)
    first = backfill_first_product(segmenter.profiles, segmenter.profiles, shop_id)
    imported = republish_orders_as_imported(
        segmenter.profiles, segmenter.profiles, segmenter.publisher, shop_id, segmenter.clock()
    )
    feedback = feedback_bootstrap.build()
    skus = feedback.restock.backfill_sku_list(shop_id)
    unindexed, indexed = feedback.adapters.person_records.index_people(shop_id)
    weeks = messenger_bootstrap.build().week.index_weeks(shop_id)
    return {
        "first_product": {k: v for k, v in asdict(first).items() if k != "shop_id"},
        "order_imported": {k: v for k, v in asdict(imported).items() if k != "shop_id"},
        "restock_skus": {k: v for k, v in asdict(skus).items() if k != "shop_id"},
        "feedback_person_index": {"unindexed": unindexed, "indexed": indexed},
        "messenger_weeks": weeks,
    }
