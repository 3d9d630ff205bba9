"""Package inserts (同梱物), the offline channel: define the shop's inserts, choose one for
a customer's next shipment (what a journey step calls), attach the chosen ones to the
customer's next order, and the warehouse's daily pick list.

See `messenger.domain.inserts` for why this is not a channel module and how it counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from messenger.domain.inserts import (
    INSERT_CHANNEL,
    Insert,
    PendingInsert,
    PickLine,
    attachable,
    chosen_delivery,
    pick_day,
    pick_list_csv,
)
from messenger.domain.model import SkipReason
from messenger.domain.policy import zone
from messenger.services.messages import MessageLibrary
from messenger.services.ports import InsertRepository
from messenger.services.sending import SendOutcome
from shared.adapters.dynamodb import Position
from shared.errors import InvalidInput, NotFound
from shared.log import get_logger

_log = get_logger("kizuna.messenger.inserts")


@dataclass(frozen=True)
class Inserts:
    repo: InsertRepository
    library: MessageLibrary
    clock: Callable[[], datetime]

    def define(self, insert: Insert) -> Insert:
        insert.validate()
        self.repo.save_insert(insert)
        return insert

    def get(self, shop_id: str, insert_id: str) -> Insert:
        found = self.repo.get_insert(shop_id, insert_id)
        if found is None:
            raise NotFound(f"no insert {insert_id!r}", field="insert_id")
        return found

    def choose_insert(
        self, shop_id: str, customer_id: str, insert_id: str, trigger: str, anchor: str
    ) -> SendOutcome:
        """Put this insert into the customer's next parcel. Idempotent per (trigger,
        customer, anchor), like a send: the second ask is `already_delivered`. The
        outcome is `packed` on the channel ``insert``; no cap slot is taken."""
        if not customer_id or not trigger or not anchor:
            raise InvalidInput("customer_id, trigger and anchor are required", field="customer_id")
        insert = self.get(shop_id, insert_id)
        now = self.clock()
        delivery = chosen_delivery(insert, customer_id, trigger, anchor, now)
        pending = PendingInsert(
            shop_id, customer_id, insert.insert_id, insert.name, delivery.delivery_id, now
        )
        if not self.repo.choose(delivery, pending):
            return SendOutcome(
                delivery.delivery_id, "skipped", SkipReason.ALREADY_DELIVERED.value, INSERT_CHANNEL
            )
        _log.info(
            "insert chosen",
            extra={"shop": shop_id, "insert_id": insert_id, "delivery_id": delivery.delivery_id},
        )
        return SendOutcome(delivery.delivery_id, delivery.status.value, None, INSERT_CHANNEL)

    def order_placed(
        self, shop_id: str, customer_id: str, order_id: str, placed_at: datetime
    ) -> list[PickLine]:
        """The customer's order carries every insert chosen before it: each goes on the
        pick list of the order's day (shop time zone), once, whatever replays."""
        waiting = attachable(self.repo.pending(shop_id, customer_id), placed_at)
        if not waiting:
            return []
        day = pick_day(placed_at, zone(self.library.policy(shop_id).timezone))
        attached = []
        for p in waiting:
            line = PickLine(day, order_id, customer_id, p.insert_id, p.name, p.delivery_id)
            if self.repo.attach(p, line):
                attached.append(line)
        return attached

    def pick_list(
        self, shop_id: str, day: date, limit: int, after: Position | None
    ) -> tuple[list[PickLine], Position | None]:
        """One page of the day's pick list (JSON), and the position after it."""
        return self.repo.pick_list_page(shop_id, day, limit, after)

    def pick_list_csv(self, shop_id: str, day: date) -> str:
        """The whole day's pick list, as the warehouse downloads it."""
        return pick_list_csv(self.repo.pick_list(shop_id, day))
