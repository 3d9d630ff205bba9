"""The customers behind one cell of the list diagnosis, in any month the pass kept.

The profiles hold each customer's state now; a cell of an earlier month (the list
analysis' customers per state, the calendar diagnosis' recency × frequency grid, the
lifecycle's from → to flows) needs who was where at that month's end. The analytics pass
keeps it per month as rows of (state, previous, recency, frequency, customer ids);
a cell of each report is the union of the rows it names. Pure Python.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from segmenter.domain.analytics.views import FREQUENCY_BUCKETS, RECENCY_BUCKETS, STATES
from shared.errors import InvalidInput

CELL_REPORTS = ("list-analysis", "calendar", "lifecycle")
PREVIOUS_STATES = ("none", *STATES)
"""A lifecycle row's from-state: ``none`` for a customer's first month."""


@dataclass(frozen=True)
class Cell:
    """One cell: `state` (list analysis), `from_state` → `to_state` (lifecycle) or
    `recency` × `frequency` (calendar diagnosis) in `month` (YYYY-MM)."""

    report: str
    month: str
    state: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    recency: str | None = None
    frequency: str | None = None

    def matches(self, row: Mapping[str, Any]) -> bool:
        if self.report == "list-analysis":
            return bool(row["state"] == self.state)
        if self.report == "lifecycle":
            return bool(row["previous"] == self.from_state and row["state"] == self.to_state)
        return bool(row["recency"] == self.recency and row["frequency"] == self.frequency)

    @property
    def name(self) -> str:
        """The cell within its month, e.g. ``repeat``, ``repeat>dormant``, ``3-5x2``."""
        if self.report == "list-analysis":
            return str(self.state)
        if self.report == "lifecycle":
            return f"{self.from_state}>{self.to_state}"
        return f"{self.recency}x{self.frequency}"

    def public(self) -> dict[str, str]:
        fields = {
            "list-analysis": ("state",),
            "lifecycle": ("from_state", "to_state"),
            "calendar": ("recency", "frequency"),
        }[self.report]
        return {f: str(getattr(self, f)) for f in fields}


def _one_of(value: str | None, allowed: Sequence[str], field: str, report: str) -> str:
    if value is None:
        raise InvalidInput(f"'{field}' is required for the {report} report", field=field)
    if value not in allowed:
        raise InvalidInput(f"'{field}' must be one of {', '.join(allowed)}", field=field)
    return value


def cell_of(
    report: str,
    month: str,
    *,
    state: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    recency: str | None = None,
    frequency: str | None = None,
) -> Cell:
    """The cell the parameters name; a 422 naming the missing or bad parameter."""
    if report == "list-analysis":
        return Cell(report, month, state=_one_of(state, STATES, "state", report))
    if report == "lifecycle":
        return Cell(
            report,
            month,
            from_state=_one_of(from_state, PREVIOUS_STATES, "from_state", report),
            to_state=_one_of(to_state, STATES, "to_state", report),
        )
    if report == "calendar":
        return Cell(
            report,
            month,
            recency=_one_of(recency, RECENCY_BUCKETS, "recency", report),
            frequency=_one_of(frequency, FREQUENCY_BUCKETS, "frequency", report),
        )
    raise InvalidInput(f"report must be one of {', '.join(CELL_REPORTS)}", field="report")


def customers_of(rows: Iterable[Mapping[str, Any]], cell: Cell) -> list[str]:
    """The cell's customer ids, sorted (a customer is in one row of a month)."""
    return sorted(str(c) for r in rows if cell.matches(r) for c in r["customer_ids"])


def page_after(ids: Sequence[str], limit: int, after: str | None) -> tuple[list[str], str | None]:
    """The `limit` ids after `after` (sorted ids), and the last one when more follow."""
    start = 0 if after is None else bisect.bisect_right(ids, after)
    found = list(ids[start : start + limit])
    more = start + limit < len(ids)
    return found, (found[-1] if more and found else None)
