"""A journey's numbers per entry cohort: the month a person entered (shop time, Tokyo)
and their RFM rank then. Pure domain.

Analytics prices a journey per customer rank and per period (issue 12): the messenger
alone knows who entered, was held out, was sent what and converted, and the rank it held
for the person at entry, so it counts each of these once more, in the same transaction,
under a cohort scope ``C#<YYYY-MM>#<rank>`` of the enrolment's counters. Everything about
a person (sends, conversion, revenue, discount) stays in the cohort they entered in: a
period's rows are the people who entered in it and all they did.

An enrolment written before cohorts were counted has no rank (None) and is counted in no
cohort: the journey's totals then exceed its cohorts' sum, and analytics shows the
difference as its own row rather than putting it in a month or rank it did not have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from messenger.domain.campaign import NO_RANK

SHOP_TIME = ZoneInfo("Asia/Tokyo")
PREFIX = "C#"
JOURNEY_FIELDS = frozenset(
    {"entered", "holdout", "conv_t", "conv_h", "rev_t", "rev_h", "disc_t", "disc_h"}
)
"""The journey-scope (`J`) counters a cohort also counts."""
STEP_FIELDS = frozenset({"sent"})
"""The step-scope counters a cohort also counts, with every `sent_<channel>`."""


WEEK_PREFIX = "W#"
WEEK_FIELDS = ("sent", "delivered", "opened", "clicked", "converted")
"""What a journey counts per calendar week too (scope ``W#<Monday>``, Tokyo), when it
happened: sends, deliveries, opens, clicks and the treated group's conversions. The
marketer's question a week after a change ("did it work?") asks for a week's numbers,
not the journey's life."""


def week_scope(at: datetime) -> str:
    """`W#2026-11-23`: the Monday (Tokyo) of the week `at` falls in."""
    day = at.astimezone(SHOP_TIME).date()
    return f"{WEEK_PREFIX}{(day - timedelta(days=day.weekday())).isoformat()}"


def parse_week(scope: str) -> str | None:
    """`W#2026-11-23` → "2026-11-23"; None for any other scope."""
    return scope.removeprefix(WEEK_PREFIX) if scope.startswith(WEEK_PREFIX) else None


def cohort_scope(month: str, rank: str) -> str:
    return f"{PREFIX}{month}#{rank}"


def parse_scope(scope: str) -> tuple[str, str] | None:
    """`C#2026-11#loyal` → ("2026-11", "loyal"); None for any other scope."""
    if not scope.startswith(PREFIX):
        return None
    month, _, rank = scope.removeprefix(PREFIX).partition("#")
    return month, rank or NO_RANK


def cohort_values(
    counters: Iterable[tuple[str, Mapping[str, int | Decimal]]],
) -> dict[str, int | Decimal]:
    """What the cohort adds from (scope, values) counters about to be written: the
    journey's entries, holdout, conversions, revenue and discounts, and the steps' sends."""
    out: dict[str, int | Decimal] = {}
    for scope, values in counters:
        for name, value in values.items():
            counted = (
                name in JOURNEY_FIELDS
                if scope == "J"
                else scope.startswith("S#") and (name in STEP_FIELDS or name.startswith("sent_"))
            )
            if counted:
                out[name] = out.get(name, 0) + value
    return out
