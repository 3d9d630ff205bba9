"""Reads of a shop's customers: profiles, their orders, their recommendations, and
whether a profile satisfies segment rules (what the messenger's journey filters ask)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from segmenter.domain.membership import profile_facts
from segmenter.domain.model import Order, Profile
from segmenter.domain.recommend import Recommendation, recommend
from segmenter.services.ingest import get_profile
from segmenter.services.ports import OrderStore, ProductStore, ProfileStore
from shared.adapters.dynamodb import Position
from shared.errors import InvalidInput, NotFound
from shared.segment_rules.evaluate import evaluate
from shared.segment_rules.rules import Rule, RuleError, parse_rule, rule_activity_windows

MAX_RULES_PER_MATCH = 20


class Customers:
    def __init__(self, profiles: ProfileStore, orders: OrderStore, products: ProductStore) -> None:
        self._profiles = profiles
        self._orders = orders
        self._products = products

    def get(self, shop_id: str, customer_id: str) -> Profile:
        """A profile by any id the storefront knows it by (merged ids resolve to the
        survivor)."""
        return get_profile(self._profiles, shop_id, customer_id)

    def page(
        self, shop_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Profile], str | None]:
        return self._profiles.list_profiles(shop_id, limit, cursor)

    def order(self, shop_id: str, order_id: str) -> Order:
        order = self._orders.get_order(shop_id, order_id)
        if order is None:
            raise NotFound("order not found", field="order_id")
        return order

    def orders_page(
        self, shop_id: str, customer_id: str, limit: int, after: Position | None
    ) -> tuple[list[Order], Position | None]:
        """One page of a customer's orders (of the profile it was merged into, if it was)."""
        profile = self.get(shop_id, customer_id)
        return self._orders.orders_page(shop_id, profile.customer_id, limit, after)

    def matches(
        self, shop_id: str, customer_id: str, rules: Sequence[object], now: datetime
    ) -> list[bool]:
        """Whether the profile satisfies each rule at `now`, judged on the customer's own
        calendar, as segment membership is. A bad rule is refused naming
        `rules.<i>.<path>`; an unknown customer is a 404."""
        if not 1 <= len(rules) <= MAX_RULES_PER_MATCH:
            raise InvalidInput(f"expected 1 to {MAX_RULES_PER_MATCH} rules", field="rules")
        compiled: list[Rule] = []
        for i, raw in enumerate(rules):
            try:
                compiled.append(parse_rule(raw))
            except RuleError as err:
                where = f"rules.{i}.{err.path}" if err.path else f"rules.{i}"
                raise InvalidInput(f"{where}: {err.reason}", field=where) from None
        profile = self.get(shop_id, customer_id)
        windows = rule_activity_windows(compiled)
        if windows and profile.latest_activity:
            history = self._profiles.load_activities(shop_id, profile, windows, now)
            profile = replace(profile, activities=history)
        local_now = profile.local_time(now)
        facts = profile_facts(profile, local_now)
        return [evaluate(rule, facts, local_now) for rule in compiled]

    def recommendations(self, shop_id: str, customer_id: str, limit: int) -> list[Recommendation]:
        profile = self.get(shop_id, customer_id)
        model = self._products.get_reco_model(shop_id) or {}
        candidates: set[str] = set(model.get("best_sellers", []))
        for skus in (model.get("co_purchased") or {}).values():
            candidates.update(skus)
        for skus in (model.get("by_category") or {}).values():
            candidates.update(skus)
        products = self._products.get_products(shop_id, sorted(candidates))
        return recommend(
            profile,
            model,
            is_available=lambda sku: sku not in products or products[sku].in_stock,
            tags_of=lambda sku: products[sku].tags if sku in products else (),
            limit=limit,
        )
