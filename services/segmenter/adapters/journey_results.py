"""A narrow, read-only view of the messenger's journey results for the analytics pass:
per journey and version (and per entry month and rank within each version), the people
enrolled and held out, the messages sent per channel, and the treated group's and the
holdout's conversions, revenue and discounts. Nothing
else of the messenger's journeys is read, and nothing is written.

`MessengerJourneyResults` reads them through the messenger's own HTTP API
(`GET /v1/journeys`, then `GET /v1/journeys/{id}/stats` for each), with a short-lived
service token bound to the shop and `messages:read`, as the messenger reads the
segmenter's recommendations: the journeys table stays the messenger's, and its counters'
layout can change behind its stats route.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from segmenter.domain.analytics.snapshot import JourneyResult
from segmenter.domain.errors import JourneyResultsUnavailable
from segmenter.services.ports import JourneyResults

if TYPE_CHECKING:
    import httpx

PAGE = 500
"""Journeys per list page (the messenger's largest)."""


class NoJourneyResults(JourneyResults):
    """No journey results to read (a deployment without the messenger, unit tests)."""

    def read(self, shop_id: str) -> list[JourneyResult]:
        return []


class MessengerJourneyResults(JourneyResults):
    """The messenger's journey stats over HTTP: one list call per 500 journeys and one
    stats call per journey (a shop has tens of journeys, and the pass runs nightly)."""

    def __init__(self, base_url: str, secret: str, timeout_seconds: float = 10.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._secret = secret
        self._timeout = timeout_seconds

    def read(self, shop_id: str) -> list[JourneyResult]:
        import httpx

        from shared.auth.service_tokens import issue_service_token

        token = issue_service_token(self._secret, shop_id, frozenset({"messages:read"}))
        headers = {"Authorization": f"Bearer {token}"}
        out: list[JourneyResult] = []
        try:
            with httpx.Client(
                base_url=self._base_url, headers=headers, timeout=self._timeout
            ) as http:
                for head in self._journeys(http):
                    journey_id = str(head["journey_id"])
                    got = http.get(f"/v1/journeys/{quote(journey_id, safe='')}/stats")
                    got.raise_for_status()
                    out += results_of(journey_id, str(head.get("name") or journey_id), got.json())
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
            raise JourneyResultsUnavailable(type(err).__name__) from err
        return out

    def _journeys(self, http: httpx.Client) -> Iterator[Mapping[str, Any]]:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE}
            if cursor:
                params["cursor"] = cursor
            page = http.get("/v1/journeys", params=params)
            page.raise_for_status()
            yield from page.json()
            cursor = page.headers.get("X-Next-Cursor")
            if not cursor:
                return


def results_of(journey_id: str, name: str, stats: Mapping[str, Any]) -> list[JourneyResult]:
    """The journey's results from its stats answer: all versions together, then each, then
    each version's entry cohorts (month entered and rank then: `month`, `rank`). A
    messenger that counts no cohorts yet gives none; the report then has no rank rows."""
    versions = stats.get("versions", ())
    return [
        _result(journey_id, name, stats, None),
        *(_result(journey_id, name, v, int(v["version"])) for v in versions),
        *(
            replace(
                _result(journey_id, name, c, int(v["version"])),
                month=str(c["month"]),
                rank=str(c["rank"]),
            )
            for v in versions
            for c in v.get("cohorts", ())
        ),
    ]


UNKNOWN_CHANNEL = "(unknown)"
"""Sends the messenger counted before it counted them per channel: no rate prices them,
so the journey's cost reads as unknown rather than too low."""


def _result(journey_id: str, name: str, s: Mapping[str, Any], version: int | None) -> JourneyResult:
    holdout = int(s["holdout"])
    sent = {str(c): int(n) for c, n in (s.get("sent_by_channel") or {}).items()}
    unknown = int(s.get("sent") or 0) - sum(sent.values())
    if unknown > 0:
        sent[UNKNOWN_CHANNEL] = unknown
    return JourneyResult(
        journey_id=journey_id,
        name=name,
        sent=sent,
        treated=int(s["entered"]) - holdout,
        converted=int(s["converted"]),
        revenue=float(s["revenue"]),
        holdout=holdout,
        holdout_converted=int(s["holdout_converted"]),
        holdout_revenue=float(s["holdout_revenue"]),
        discount=float(s.get("discount") or 0),
        version=version,
    )
