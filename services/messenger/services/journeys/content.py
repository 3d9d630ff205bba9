"""What a journey's send step puts in its templates besides the person: the slots it
asks for (`Step.slots`: the cart with its stock re-checked, the product, the first
order) and a per-person coupon code. Looked up when the step runs, not when the person
entered, so a cart mail an hour later shows what is still in stock.

A slot that cannot be filled is a reason not to send (`Filled.skip`): a cart whose
every line sold out, a restock someone already told the person about, an exhausted
coupon pool. The runner records the reason on the step's counters and goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from messenger.domain.coupons import GiveStatus
from messenger.domain.journeys.definition import Journey, Step
from messenger.domain.journeys.enrolment import Enrolment
from messenger.domain.journeys.plan import iso_time
from messenger.services.coupons import Coupons
from messenger.services.ports import JourneyFacts


@dataclass(frozen=True)
class Filled:
    variables: Mapping[str, Any] = field(default_factory=dict)
    skip: str | None = None
    """Why the send does not go (`out_of_stock`, `already_notified`, ...); None: it goes."""


def first_order(orders: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The earliest order the messenger saw (by `placed_at`, then F-stage). Compared as
    times, not strings: imported orders keep the shop's offset (`+09:00`), live ones
    come in UTC, and the later of two can sort first as text."""
    dated = [
        (when, o.get("order.order_count") or 0, n, o)
        for n, o in enumerate(orders)
        if (when := iso_time(o.get("order.placed_at"), UTC)) is not None
    ]
    return min(dated)[3] if dated else None


@dataclass(frozen=True)
class JourneyContent:
    facts: JourneyFacts
    coupons: Coupons

    def order_count(self, shop_id: str, customer_id: str) -> int:
        """The highest F-stage `order.placed` reported for the person (0: none heard)."""
        counts = [o.get("order.order_count") for o in self.facts.orders_of(shop_id, customer_id)]
        return max((int(c) for c in counts if isinstance(c, int)), default=0)

    def fill(self, journey: Journey, step: Step, e: Enrolment) -> Filled:
        shop, customer = e.shop_id, e.customer_id
        out: dict[str, Any] = {}
        if "cart" in step.slots:
            lines = self.facts.cart(shop, customer, e.key)
            stock = self.facts.stock(shop, [str(x.get("sku")) for x in lines])
            marked = [{**x, "in_stock": stock.get(str(x.get("sku")), 1) > 0} for x in lines]
            kept = [x for x in marked if x["in_stock"]]
            if not kept:
                return Filled(skip="out_of_stock" if lines else "empty_cart")
            out["cart"] = {
                "cart_id": e.key,
                "lines": kept,
                "sold_out": [x["sku"] for x in marked if not x["in_stock"]],
            }
        if "product" in step.slots or "restock" in step.slots:
            sku = str(e.facts.get("event.sku") or "")
            if not sku:
                return Filled(skip="no_product")
            if self.facts.stock(shop, [sku]).get(sku, 1) <= 0:
                return Filled(skip="out_of_stock")
            if "restock" in step.slots and not self.facts.tell(shop, customer, sku, e.enrolment_id):
                return Filled(skip="already_notified")
            out["product"] = {"sku": sku, "category": e.facts.get("event.category")}
        if "first_order" in step.slots:
            first = first_order(self.facts.orders_of(shop, customer))
            motive = self.facts.preferences(shop, customer).get("motive", [])
            out["first_order"] = {
                "order_id": first.get("order.order_id") if first else None,
                "placed_at": first.get("order.placed_at") if first else None,
                "skus": list(first.get("order.skus") or []) if first else [],
                "motive": motive[0] if motive else None,
            }
        if "order" in step.slots:
            orders = self.facts.orders_of(shop, customer)
            this = next((o for o in orders if o.get("order.order_id") == e.key), None)
            out["order"] = {
                "order_id": e.key,
                "placed_at": this.get("order.placed_at") if this else None,
                "skus": list(this.get("order.skus") or []) if this else [],
            }
        if step.coupon_pool:
            given = self.coupons.give(
                shop, step.coupon_pool, customer, f"{journey.journey_id}:{e.key}"
            )
            if given.status is GiveStatus.EXHAUSTED:
                return Filled(skip="coupon_exhausted")
            out.update(given.variables)
        return Filled(out)
