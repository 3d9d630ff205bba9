"""An order placed in the storefront, as the messenger sees it: the recipient kept
current, the order credited to the campaign the person last engaged with, its coupon
code marked redeemed (if Kizuna gave it), the package inserts chosen for the customer
put on its pick list, and the first-purchase welcome sent through the send door (on the
channel the buyer can be reached on; not for an order older than a day).

An order of imported history (`order.imported`) is only kept: the person becomes
reachable and the order joins their past, which the win-back's first product and the
replenishment interval read. The segmenter publishes an event of its own for it rather
than `order.placed` (which would thank, attribute, end journeys and count goals for a
purchase made a year ago), and rather than the messenger reading the segmenter's order
table when it has no order of a person: each service owns its table, the messenger
learns only from events, and its journeys then read one store, whatever the order's
origin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from messenger.domain.builtin import WELCOME
from messenger.domain.journeys.records import order_facts
from messenger.domain.model import welcome_skip_reason
from messenger.services.campaigns import Campaigns
from messenger.services.common import WELCOME_TRIGGER, Clock, record_customer
from messenger.services.coupons import Coupons
from messenger.services.inserts import Inserts
from messenger.services.ports import JourneyRepository, RecipientRepository
from messenger.services.sending import SendOutcome, SendRequest, Sends
from shared.contracts import details


@dataclass(frozen=True)
class OrderHandled:
    welcome: SendOutcome
    attributed_to: str | None
    """The campaign credited with the order, if any."""
    coupon_redeemed: bool = False
    inserts: tuple[str, ...] = ()
    """The package inserts this order's parcel carries (put on the day's pick list)."""


@dataclass(frozen=True)
class Orders:
    recipients: RecipientRepository
    campaigns: Campaigns
    sends: Sends
    coupons: Coupons
    inserts: Inserts
    clock: Clock
    history: Callable[[], JourneyRepository]
    """Where the journeys keep a person's orders (built on first use: only orders need it)."""

    def imported(self, shop_id: str, order: details.OrderImported, at: datetime) -> bool:
        """`order.imported`: the recipient kept current and the order kept among the
        person's orders, nothing else: no welcome, no attribution, no coupon, no pick
        list, and the journey intake never hears it (`book.NOT_HEARD`), so it ends,
        converts and starts nothing. An order the messenger holds already (a live
        `order.placed`, or this event before: a re-run import, a redelivery, `kizuna
        backfill`'s re-publish) changes nothing, the recipient included: whoever stored
        the order kept the recipient first. Whether the order was new."""
        history = self.history()
        customer_id = order.customer.customer_id
        if history.order(shop_id, customer_id, order.order_id):
            return False
        record_customer(self.recipients, shop_id, order.customer, at)
        return history.record_order(
            shop_id,
            customer_id,
            order.order_id,
            order_facts(order.model_dump(mode="json")),
            only_new=True,
        )

    def placed(self, shop_id: str, order: details.OrderPlaced, at: datetime) -> OrderHandled:
        """`order.placed`: marketing, so the welcome goes through channel choice, consent,
        cap and quiet hours like any other send, once per customer (anchored on the first
        order), and only on the order's day (a replayed history thanks no one)."""
        record_customer(self.recipients, shop_id, order.customer, at)
        customer_id = order.customer.customer_id
        credited = self.campaigns.order_placed(
            shop_id, customer_id, order.order_id, order.total, order.placed_at
        )
        redeemed = bool(order.coupon) and self.coupons.redeemed(
            shop_id, str(order.coupon), order.order_id, customer_id
        )
        packed = tuple(
            line.insert_id
            for line in self.inserts.order_placed(
                shop_id, customer_id, order.order_id, order.placed_at
            )
        )
        skip = welcome_skip_reason(order.is_first_order, order.placed_at, self.clock())
        if skip is not None:
            return OrderHandled(
                SendOutcome("", "skipped", skip.value),
                credited,
                redeemed,
                packed,
            )
        welcome = self.sends.send(
            SendRequest(
                shop_id=shop_id,
                message_id=WELCOME,
                customer_id=customer_id,
                trigger=WELCOME_TRIGGER,
                anchor="first-order",
                variables={
                    "order": {
                        "order_id": order.order_id,
                        "lines": [{"sku": i.sku, "quantity": i.quantity} for i in order.items],
                        "total": str(order.total),
                        "currency": order.currency,
                    }
                },
            )
        )
        return OrderHandled(welcome, credited, redeemed, packed)
