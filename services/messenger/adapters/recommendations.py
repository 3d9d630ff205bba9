"""Where the recommendation block of a message gets its items.

The segmenter's recommendations API (co-purchase, best sellers, never an item already
bought or disliked) arrives later; until then the messenger uses `NoRecommendations`,
and tests use a fake that subclasses the port.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recommendation:
    sku: str
    name: str
    url: str | None = None
    image_url: str | None = None
    price: str | None = None


class RecommendationSource:
    """Port: up to `limit` items for one customer, best first."""

    def recommend(self, shop_id: str, customer_id: str, limit: int) -> list[Recommendation]:
        raise NotImplementedError


class NoRecommendations(RecommendationSource):
    def recommend(self, shop_id: str, customer_id: str, limit: int) -> list[Recommendation]:
        return []
