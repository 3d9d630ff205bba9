"""Where the recommendation block of a message gets its items.

The segmenter's recommendations API (co-purchase, best sellers, never an item already
bought or disliked) arrives later; until then the messenger uses `NoRecommendations`,
and tests use a fake that subclasses the port.
"""

from __future__ import annotations

from urllib.parse import quote

from messenger.domain.records import Recommendation
from messenger.services.ports import RecommendationSource


class NoRecommendations(RecommendationSource):
    def recommend(self, shop_id: str, customer_id: str, limit: int) -> list[Recommendation]:
        return []


class SegmenterRecommendations(RecommendationSource):
    """The segmenter's recommendations API over HTTP, with a short-lived service token
    for the shop. A message must not fail because of its optional recommendation block,
    so any error gives no items (and a warning without personal data)."""

    def __init__(self, base_url: str, secret: str, timeout_seconds: float = 2.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._secret = secret
        self._timeout = timeout_seconds

    def recommend(self, shop_id: str, customer_id: str, limit: int) -> list[Recommendation]:
        import httpx

        from shared.auth.service_tokens import issue_service_token
        from shared.log import get_logger

        token = issue_service_token(self._secret, shop_id, frozenset({"segments:read"}))
        try:
            response = httpx.get(
                f"{self._base_url}/v1/customers/{quote(customer_id, safe='')}/recommendations",
                params={"limit": limit},
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            )
            response.raise_for_status()
            items = response.json()
        except (httpx.HTTPError, ValueError) as err:
            get_logger("kizuna.messenger").warning(
                "recommendations unavailable", extra={"shop": shop_id, "error": type(err).__name__}
            )
            return []
        return [
            Recommendation(sku=str(i["sku"]), name=str(i.get("name") or i["sku"])) for i in items
        ]
