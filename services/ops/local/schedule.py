"""EventBridge schedule expressions: `rate(...)` and the 6-field AWS `cron(...)` (pure).

moto stores scheduled rules but never fires them, so the local stack needs its own
clock. The rules follow EventBridge: times are UTC; cron fields are minutes, hours,
day-of-month, month, day-of-week (1-7 = SUN-SAT) and year; exactly one of the two day
fields must be `?`. `L`, `W` and `#` are refused here rather than silently misread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "CronSchedule",
    "RateSchedule",
    "Schedule",
    "ScheduleError",
    "parse_schedule",
]


class ScheduleError(ValueError):
    """A schedule expression EventBridge would refuse (or that is not supported locally)."""


_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {
    name: i
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}


@dataclass(frozen=True)
class RateSchedule:
    """`rate(N unit)`: every N units, counted from when the schedule starts."""

    expression: str
    seconds: int

    def next_after(self, moment: datetime) -> datetime:
        """The next firing after `moment` (the scheduler passes the last firing or its start)."""
        return moment + timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class CronSchedule:
    """`cron(min hour dom month dow year)`; `None` for a day field means `?`."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None
    months: frozenset[int]
    days_of_week: frozenset[int] | None
    years: frozenset[int] | None

    def matches(self, moment: datetime) -> bool:
        """Whether the minute containing `moment` (UTC) is a firing time."""
        moment = _as_utc(moment)
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and self._day_matches(moment)
        )

    def _day_matches(self, moment: datetime) -> bool:
        if moment.month not in self.months:
            return False
        if self.years is not None and moment.year not in self.years:
            return False
        if self.days_of_month is not None:
            return moment.day in self.days_of_month
        assert self.days_of_week is not None  # parse_schedule guarantees one of the two
        aws_dow = moment.isoweekday() % 7 + 1  # Sunday → 1 … Saturday → 7
        return aws_dow in self.days_of_week

    def next_after(self, moment: datetime) -> datetime | None:
        """The first firing strictly after `moment`, or None if the years field has ended."""
        start = _as_utc(moment).replace(second=0, microsecond=0) + timedelta(minutes=1)
        last_year = max(self.years) if self.years is not None else start.year + 30
        day = start.replace(hour=0, minute=0)
        while day.year <= last_year:
            if self.years is not None and day.year not in self.years:
                day = day.replace(year=day.year + 1, month=1, day=1)
                continue
            if day.month not in self.months:
                day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
                continue
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        return None


Schedule = RateSchedule | CronSchedule


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_schedule(expression: str) -> Schedule:
    """Parse an EventBridge `ScheduleExpression`."""
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value <= 0:
            raise ScheduleError(f"{expression}: the rate must be a positive number")
        if (value == 1) == unit.endswith("s"):
            raise ScheduleError(
                f"{expression}: EventBridge wants the singular unit for 1 and plural otherwise"
            )
        return RateSchedule(text, value * _UNIT_SECONDS[unit.rstrip("s")])
    cron = _CRON.match(text)
    if not cron:
        raise ScheduleError(f"{expression}: expected rate(...) or cron(...)")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ScheduleError(f"{expression}: cron needs 6 fields (min hour dom month dow year)")
    minute_f, hour_f, dom_f, month_f, dow_f, year_f = fields
    if (dom_f == "?") == (dow_f == "?"):
        raise ScheduleError(
            f"{expression}: exactly one of day-of-month and day-of-week must be '?'"
        )
    years = _parse_field(year_f, 1970, 2199, {}, "year")
    return CronSchedule(
        expression=text,
        minutes=_parse_field(minute_f, 0, 59, {}, "minutes"),
        hours=_parse_field(hour_f, 0, 23, {}, "hours"),
        days_of_month=None if dom_f == "?" else _parse_field(dom_f, 1, 31, {}, "day-of-month"),
        months=_parse_field(month_f, 1, 12, _MONTHS, "month"),
        days_of_week=None if dow_f == "?" else _parse_field(dow_f, 1, 7, _DAYS, "day-of-week"),
        years=None if year_f == "*" else years,
    )


def _parse_value(token: str, names: dict[str, int], what: str) -> int:
    upper = token.upper()
    if upper in names:
        return names[upper]
    if not token.isdigit():
        if any(c in upper for c in "LW#"):
            raise ScheduleError(f"{what}: '{token}' (L, W, #) is not supported locally")
        raise ScheduleError(f"{what}: '{token}' is not a number")
    return int(token)


def _parse_field(
    text: str, low: int, high: int, names: dict[str, int], what: str
) -> frozenset[int]:
    """One cron field: `*`, `?`, `a`, `a-b`, `a/step`, `*/step`, `a-b/step`, comma lists."""
    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"{what}: bad step in '{part}'")
            step = int(step_text)
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _parse_value(first, names, what), _parse_value(last, names, what)
        else:
            start = _parse_value(base, names, what)
            end = high if slash else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ScheduleError(f"{what}: '{part}' is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)
