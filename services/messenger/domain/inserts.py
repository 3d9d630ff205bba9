"""同梱物 (package inserts): the offline channel. Pure domain.

An insert is a flyer or a sample (an id and a name) that goes into a customer's parcel.
A journey step (or a person through the API) chooses one for the customer's next
shipment; the next order the customer places after the choice carries it, and the
warehouse reads the day's pick list (order id, customer, insert) as JSON or CSV.

It is not a channel module (`messenger.channels`): there is no address, no rendered
content, no provider call, nothing to fall back from, and the person's channel order,
quiet hours and consent to marketing messages do not apply to what is in their own
parcel. What it shares with the channels is the delivery log: choosing records a
delivery (channel ``insert``, status ``packed``) under the same (trigger, customer,
anchor) identity, so stats and a journey's holdout comparison count it, while it never
takes a frequency-cap slot.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from messenger.domain.model import Delivery, DeliveryKey, DeliveryStatus
from shared.errors import InvalidInput

INSERT_CHANNEL = "insert"
INSERT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
PICK_LIST_COLUMNS = ("order_id", "customer_id", "insert_id", "insert_name")


@dataclass(frozen=True)
class Insert:
    shop_id: str
    insert_id: str
    name: str
    description: str | None = None

    def validate(self) -> None:
        if not INSERT_ID.fullmatch(self.insert_id):
            raise InvalidInput("insert_id is 1-64 letters, digits, '-' or '_'", field="insert_id")
        if not self.name.strip() or len(self.name) > 200:
            raise InvalidInput("name is 1-200 characters", field="name")


@dataclass(frozen=True)
class PendingInsert:
    """An insert chosen for a customer's next shipment, not yet on an order."""

    shop_id: str
    customer_id: str
    insert_id: str
    name: str
    delivery_id: str
    chosen_at: datetime


@dataclass(frozen=True)
class PickLine:
    """One line of the warehouse's pick list: put this insert into this order's parcel."""

    day: date
    order_id: str
    customer_id: str
    insert_id: str
    insert_name: str
    delivery_id: str


def chosen_delivery(
    insert: Insert, customer_id: str, trigger: str, anchor: str, at: datetime
) -> Delivery:
    """The delivery that stands for the choice in the log: `packed` at once (nothing can
    fail on the way), not cap-counted."""
    return Delivery(
        key=DeliveryKey(insert.shop_id, trigger, customer_id, anchor),
        channel=INSERT_CHANNEL,
        category="marketing",
        status=DeliveryStatus.PACKED,
        created_at=at,
        sent_at=at,
        message_id=f"insert:{insert.insert_id}",
    )


def attachable(pending: Iterable[PendingInsert], placed_at: datetime) -> list[PendingInsert]:
    """The inserts an order placed at `placed_at` carries: those chosen before it (an order
    replayed after a later choice does not take that one)."""
    return [p for p in pending if p.chosen_at <= placed_at]


def pick_day(placed_at: datetime, zone: tzinfo) -> date:
    """The pick list an order's inserts go on: the order's date in the shop's time zone."""
    return placed_at.astimezone(zone).date()


def pick_list_csv(lines: Iterable[PickLine]) -> str:
    """The pick list as CSV (a header, one line per insert; Excel reads the BOM as UTF-8)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(PICK_LIST_COLUMNS)
    for line in lines:
        writer.writerow([line.order_id, line.customer_id, line.insert_id, line.insert_name])
    return out.getvalue()
