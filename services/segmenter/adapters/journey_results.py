"""A narrow, read-only view of the messenger's journey results for the analytics pass:
per journey, the messages sent per channel and the treated group's and the holdout's
conversions and revenue. Nothing else of the messenger's journeys is read, and nothing
is written.

The messenger keeps these as counters in its journeys table (``STATS#<shop>#<journey>``,
summed over versions and shards, beside the head ``SHOP#<shop>`` / ``JOURNEY#<id>``). That
table was not on main when this port was written, so the composition root wires
`NoJourneyResults`; a DynamoDB adapter reading those counters plugs in here, and the
campaign report shows journey rows as soon as it returns any.
"""

from __future__ import annotations

from segmenter.domain.analytics.snapshot import JourneyResult


class JourneyResults:
    """Port. Test fakes subclass it."""

    def read(self, shop_id: str) -> list[JourneyResult]:
        raise NotImplementedError


class NoJourneyResults(JourneyResults):
    """No journey results to read (the journeys table is not wired yet)."""

    def read(self, shop_id: str) -> list[JourneyResult]:
        return []
