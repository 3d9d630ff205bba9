"""Who is behind the overview's week tiles. Pure domain.

The overview adds up, for a calendar week (Monday 00:00, Tokyo), the results of the
campaigns scheduled in it and every journey's counters of that week (`W#<Monday>`): a
number of messages, not of people. The customers behind it are the campaigns' recipients
who reached the metric and the enrolments whose own copy of that week's counter is not
zero; `messages` sums them the way the tile does."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Literal

from messenger.domain.journeys.cohorts import SHOP_TIME, WEEK_PREFIX
from shared.errors import InvalidInput

WEEK_METRICS = ("sent", "opened", "clicked", "converted")
"""The overview's four tiles."""

WeekCounts = Literal["journeys", "campaigns", "people"]
"""What a shop's "whole since" mark is about: the journeys' week partitions, the
campaigns' week figures, or the week's people counters (each marked when the code
counting it first ran for the shop)."""


def week_period(monday: date) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) in shop time; a day that is no Monday is a 422."""
    if monday.weekday() != 0:
        raise InvalidInput(f"{monday.isoformat()} is not a Monday", field="week")
    start = datetime.combine(monday, time(), SHOP_TIME)
    return start, start + timedelta(days=7)


def week_of(at: datetime) -> date:
    """The Monday (shop time) of the week `at` falls in."""
    day = at.astimezone(SHOP_TIME).date()
    return day - timedelta(days=day.weekday())


def week_counter(monday: date, metric: str) -> str:
    """The name of an enrolment's copy of a week's counter (`W#2026-11-30|opened`)."""
    return f"{WEEK_PREFIX}{monday.isoformat()}|{metric}"


def tally(counted: Iterable[tuple[str, int]]) -> dict[str, int]:
    """(customer, times) pairs → times per customer, the zeros left out."""
    times: dict[str, int] = {}
    for customer_id, n in counted:
        if n > 0:
            times[customer_id] = times.get(customer_id, 0) + n
    return times
