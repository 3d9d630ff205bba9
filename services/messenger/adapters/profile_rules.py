"""Whether a person's profile satisfies segment rules: the segmenter holds the profiles
(order history, activities, preferences), so it judges a journey filter's
segment-language leaves, over its HTTP API, all of one filter in one request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from messenger.services.ports import ProfileRules
from shared.errors import DependencyFailed


class SegmenterProfileRules(ProfileRules):
    """`POST /v1/customers/{id}/matches` with a short-lived service token for the shop.
    Someone the segmenter has no profile of matches nothing. Any other failure raises
    `DependencyFailed`: a filter is never skipped, the step is tried again later (the
    dispatcher parks it) or the event is retried."""

    def __init__(self, base_url: str, secret: str, timeout_seconds: float = 3.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._secret = secret
        self._timeout = timeout_seconds

    def match(
        self, shop_id: str, customer_id: str, rules: Sequence[Mapping[str, Any]]
    ) -> list[bool]:
        import httpx

        from shared.auth.service_tokens import issue_service_token

        token = issue_service_token(self._secret, shop_id, frozenset({"segments:read"}))
        try:
            response = httpx.post(
                f"{self._base_url}/v1/customers/{quote(customer_id, safe='')}/matches",
                json={"rules": [dict(r) for r in rules]},
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            )
            if response.status_code == 404:
                return [False] * len(rules)
            response.raise_for_status()
            found = [bool(m) for m in response.json()["matches"]]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
            raise DependencyFailed(
                f"the segmenter could not judge a journey filter ({type(err).__name__})"
            ) from err
        if len(found) != len(rules):
            raise DependencyFailed("the segmenter answered a different number of rules")
        return found
