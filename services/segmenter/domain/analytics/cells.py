"""The customers behind one cell of a report, as the last analytics pass counted them.

The profiles hold each customer's state now; a cell of an earlier month (the list
analysis' customers per state, the calendar diagnosis' recency × frequency grid, the
lifecycle's from → to flows) needs who was where at that month's end. The analytics pass
keeps it per month as rows of (state, previous, recency, frequency, customer ids);
a cell of each report is the union of the rows it names.

The cohort reports (the retention matrix, the F-stage funnel, the days to the second
purchase and the LTV rows) count buyers by first-purchase month: the pass keeps each
cohort's buyers per (stage, bucket, channel, first product, first offer) and per month
since the first, so their cells list exactly whom the report counted, at any age (a rule
over the profiles reads a purchase history they keep for 3 years or 1,000 lines only).
Pure Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from segmenter.domain.analytics.views import (
    FREQUENCY_BUCKETS,
    RECENCY_BUCKETS,
    SECOND_PURCHASE_BUCKETS,
    STATES,
    Period,
)
from shared.errors import InvalidInput

MONTH_REPORTS = ("list-analysis", "calendar", "lifecycle")
"""Cells of a month end (the ``cells`` files)."""
COHORT_REPORTS = ("retention", "repeat", "second-purchase", "ltv")
"""Cells of first-purchase months (the ``cohorts`` files)."""
CELL_REPORTS = (*MONTH_REPORTS, *COHORT_REPORTS)
LTV_DIMENSIONS = ("cohort", "channel", "first_product", "first_offer")
MAX_STAGE = 10
"""The funnel's last stage: the pass counts orders up to 10 (10 = 10 or more)."""
STATE_GROUPS = {"active": ("new", "repeat", "loyal"), "all": STATES}
"""List-analysis states that name several: the overview's active customers (bought within
the dormancy window: new, repeat, loyal) and its customers (every state)."""
PREVIOUS_STATES = ("none", *STATES)
"""A lifecycle row's from-state: ``none`` for a customer's first month."""


_FIELDS = {
    "list-analysis": ("state",),
    "lifecycle": ("from_state", "to_state"),
    "calendar": ("recency", "frequency"),
    "retention": ("month_offset",),
    "repeat": ("stage",),
    "second-purchase": ("bucket",),
    "ltv": ("dimension", "key"),
}


@dataclass(frozen=True)
class Cell:
    """One cell: `state` (list analysis), `from_state` → `to_state` (lifecycle) or
    `recency` × `frequency` (calendar diagnosis) in `month` (YYYY-MM, a month end); the
    `month_offset`-th month after the first of the cohort `month` (retention); or, over
    the cohorts of `period`, the buyers who reached `stage` orders (repeat), whose second
    purchase fell in `bucket` (second-purchase) or whose `dimension` is `key` (ltv)."""

    report: str
    month: str | None
    state: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    recency: str | None = None
    frequency: str | None = None
    month_offset: int | None = None
    stage: int | None = None
    bucket: str | None = None
    dimension: str | None = None
    key: str | None = None
    period: Period = field(default_factory=Period)

    @property
    def kind(self) -> str:
        """The files the cell's customers are in: ``cells`` (month ends) or ``cohorts``."""
        return "cells" if self.report in MONTH_REPORTS else "cohorts"

    def months(self, cohorts: Iterable[str]) -> list[str]:
        """The months whose file holds the cell's rows, of the cohort months `cohorts`
        the pass counted (a month-end or retention cell: its own month)."""
        if self.month is not None:
            return [self.month]
        if self.dimension == "cohort":
            return [m for m in sorted(set(cohorts)) if m == self.key and self.period.contains(m)]
        return [m for m in sorted(set(cohorts)) if self.period.contains(m)]

    def matches(self, row: Mapping[str, Any]) -> bool:
        if self.report == "list-analysis":
            return row["state"] in STATE_GROUPS.get(str(self.state), (self.state,))
        if self.report == "lifecycle":
            return bool(row["previous"] == self.from_state and row["state"] == self.to_state)
        if self.report == "calendar":
            return bool(row["recency"] == self.recency and row["frequency"] == self.frequency)
        if self.report == "retention":
            return bool(row["kind"] == "retention" and row["month_offset"] == self.month_offset)
        if row["kind"] != "buyers":
            return False
        if self.report == "repeat":
            return bool(int(row["stage"]) >= int(self.stage or 0))
        if self.report == "second-purchase":
            return bool(row["bucket"] == self.bucket)
        return self.dimension == "cohort" or bool(row[str(self.dimension)] == self.key)

    @property
    def where(self) -> str:
        """The month or the cohort months the cell is of: ``2026-04``, ``2025-01..``."""
        if self.month is not None:
            return self.month
        if self.period.start is None and self.period.end is None:
            return "all"
        return f"{self.period.start or ''}..{self.period.end or ''}"

    @property
    def name(self) -> str:
        """The cell within its month, e.g. ``repeat``, ``repeat>dormant``, ``3-5x2``,
        ``m5``, ``F2``, ``same_day``, ``channel=ads``."""
        if self.report == "list-analysis":
            return str(self.state)
        if self.report == "lifecycle":
            return f"{self.from_state}>{self.to_state}"
        if self.report == "calendar":
            return f"{self.recency}x{self.frequency}"
        if self.report == "retention":
            return f"m{self.month_offset}"
        if self.report == "repeat":
            return f"F{self.stage}"
        if self.report == "second-purchase":
            return str(self.bucket)
        return f"{self.dimension}={self.key}"

    def public(self) -> dict[str, str]:
        return {f: str(getattr(self, f)) for f in _FIELDS[self.report]}


def _one_of(value: str | None, allowed: Sequence[str], field: str, report: str) -> str:
    if value is None:
        raise InvalidInput(f"'{field}' is required for the {report} report", field=field)
    if value not in allowed:
        raise InvalidInput(f"'{field}' must be one of {', '.join(allowed)}", field=field)
    return value


def _month(month: str | None, report: str) -> str:
    if month is None:
        raise InvalidInput(f"'month' is required for the {report} report", field="month")
    return month


def _number(value: int | None, low: int, high: int, field: str, report: str) -> int:
    if value is None:
        raise InvalidInput(f"'{field}' is required for the {report} report", field=field)
    if not low <= value <= high:
        raise InvalidInput(f"'{field}' must be between {low} and {high}", field=field)
    return value


def cell_of(
    report: str,
    month: str | None,
    *,
    state: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    recency: str | None = None,
    frequency: str | None = None,
    month_offset: int | None = None,
    stage: int | None = None,
    bucket: str | None = None,
    dimension: str | None = None,
    key: str | None = None,
    period: Period | None = None,
) -> Cell:
    """The cell the parameters name; a 422 naming the missing or bad parameter."""
    if report in COHORT_REPORTS:
        return _cohort_cell(
            report, month, month_offset, stage, bucket, dimension, key, period or Period()
        )
    month = _month(month, report) if report in MONTH_REPORTS else month
    if report == "list-analysis":
        allowed = (*STATES, *STATE_GROUPS)
        return Cell(report, month, state=_one_of(state, allowed, "state", report))
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


def _cohort_cell(
    report: str,
    month: str | None,
    month_offset: int | None,
    stage: int | None,
    bucket: str | None,
    dimension: str | None,
    key: str | None,
    period: Period,
) -> Cell:
    if report == "retention":
        cohort = _month(month, report)
        return Cell(
            report, cohort, month_offset=_number(month_offset, 0, 1200, "month_offset", report)
        )
    if month is not None:
        raise InvalidInput(
            f"the {report} report's cells are over cohort months: use 'from' and 'to', not 'month'",
            field="month",
        )
    if period.start and period.end and period.start > period.end:
        raise InvalidInput("'from' must not be after 'to'", field="from")
    if report == "repeat":
        return Cell(
            report, None, stage=_number(stage, 1, MAX_STAGE, "stage", report), period=period
        )
    if report == "second-purchase":
        chosen = _one_of(bucket, SECOND_PURCHASE_BUCKETS, "bucket", report)
        return Cell(report, None, bucket=chosen, period=period)
    chosen = _one_of(dimension, LTV_DIMENSIONS, "dimension", report)
    if not key:
        raise InvalidInput(f"'key' is required for the {report} report", field="key")
    return Cell(report, None, dimension=chosen, key=key, period=period)


def customers_of(rows: Iterable[Mapping[str, Any]], cell: Cell) -> list[str]:
    """The cell's customer ids, sorted (a customer is in one row of a month, and in one
    row of kind ``buyers`` of one cohort)."""
    return sorted(str(c) for r in rows if cell.matches(r) for c in r["customer_ids"])
