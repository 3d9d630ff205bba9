"""Package inserts and the warehouse's pick list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from messenger.entrypoints.schemas.common import In, Out

if TYPE_CHECKING:  # the domain types a body converts to or from: loaded on first use
    from messenger.domain.inserts import Insert


class InsertUpdate(In):
    name: str = Field(min_length=1, max_length=200)
    """What the warehouse picks, e.g. 「美容液サンプル 3包」."""
    description: str | None = Field(default=None, max_length=500)

    def to_domain(self, shop_id: str, insert_id: str) -> Insert:
        from messenger.domain.inserts import Insert

        return Insert(shop_id, insert_id, self.name, self.description)


class InsertPublic(Out):
    insert_id: str
    name: str
    description: str | None


class InsertChoiceCreate(In):
    customer_id: str = Field(min_length=1, max_length=128)
    anchor: str = Field(min_length=1, max_length=128)
    """With the trigger and the customer, what makes the choice unique (e.g. an order id)."""
    trigger: str | None = Field(default=None, min_length=1, max_length=200)
    """What chooses it; default `api:insert:<insert_id>`."""


class PickLinePublic(Out):
    order_id: str
    customer_id: str
    insert_id: str
    insert_name: str
