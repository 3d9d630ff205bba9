"""Schedule expressions, read the way EventBridge reads them (UTC, AWS 6-field cron)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ops.local.schedule import CronSchedule, RateSchedule, ScheduleError, parse_schedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(12 hours)", 43200),
        ("rate(1 day)", 86400),
        ("rate(7 days)", 604800),
    ],
)
def test_rate_expressions_give_their_interval(expression: str, seconds: int) -> None:
    # Given a rate expression / When it is parsed
    schedule = parse_schedule(expression)
    # Then it fires every interval after the last firing
    assert isinstance(schedule, RateSchedule)
    assert schedule.seconds == seconds
    start = at("2026-01-01T00:00:07")
    assert schedule.next_after(start) == start + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "expression",
    ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(5 weeks)", "every 5"],
)
def test_rate_expressions_eventbridge_refuses_are_refused(expression: str) -> None:
    # Given an expression EventBridge would reject / When parsed / Then it is refused
    with pytest.raises(ScheduleError):
        parse_schedule(expression)


def test_nightly_cron_fires_at_18_utc_every_day() -> None:
    # Given the template's nightly recompute (03:00 JST)
    schedule = parse_schedule("cron(0 18 * * ? *)")
    assert isinstance(schedule, CronSchedule)
    # When asked for the next firing, before and after 18:00
    # Then it is 18:00 the same day, or the next day
    assert schedule.next_after(at("2026-03-10T12:34:56")) == at("2026-03-10T18:00:00")
    assert schedule.next_after(at("2026-03-10T18:00:00")) == at("2026-03-11T18:00:00")
    assert schedule.matches(at("2026-03-10T18:00:30"))
    assert not schedule.matches(at("2026-03-10T18:01:00"))


def test_cron_with_lists_ranges_steps_and_names() -> None:
    # Given every 15 minutes, 9-17h, Monday to Friday, in 2026 only
    schedule = parse_schedule("cron(0/15 9-17 ? * MON-FRI 2026)")
    assert isinstance(schedule, CronSchedule)
    # Then the fields expand as EventBridge documents them
    assert schedule.minutes == frozenset({0, 15, 30, 45})
    assert schedule.hours == frozenset(range(9, 18))
    assert schedule.days_of_week == frozenset({2, 3, 4, 5, 6})
    # When it is Saturday 2026-03-14, the next firing is Monday 09:00
    assert schedule.next_after(at("2026-03-14T10:00:00")) == at("2026-03-16T09:00:00")
    # And within a working day the next quarter hour
    assert schedule.next_after(at("2026-03-16T09:07:00")) == at("2026-03-16T09:15:00")
    # And once the year is over, never again
    assert schedule.next_after(at("2026-12-31T17:45:00")) is None


def test_cron_day_of_month_list_and_month_step() -> None:
    # Given the 1st and 15th of every other month at 00:30
    schedule = parse_schedule("cron(30 0 1,15 */2 ? *)")
    assert isinstance(schedule, CronSchedule)
    assert schedule.months == frozenset({1, 3, 5, 7, 9, 11})
    # When after 15 January / Then 1 March
    assert schedule.next_after(at("2026-01-15T01:00:00")) == at("2026-03-01T00:30:00")


def test_cron_day_of_week_numbers_start_at_sunday() -> None:
    # Given "day 1" in the day-of-week field (EventBridge: 1 = Sunday)
    schedule = parse_schedule("cron(0 0 ? * 1 *)")
    # When asked after a Wednesday / Then the following Sunday
    assert schedule.next_after(at("2026-03-11T00:00:00")) == at("2026-03-15T00:00:00")


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 18 * * * *)",  # neither day field is '?'
        "cron(0 18 ? * ? *)",  # both are
        "cron(0 18 * *)",  # too few fields
        "cron(60 18 * * ? *)",  # minute out of range
        "cron(0 18 L * ? *)",  # L is not supported locally
        "cron(0 18 ? * 6#3 *)",  # nor is #
        "cron(0/0 18 * * ? *)",  # zero step
    ],
)
def test_bad_or_unsupported_cron_is_refused(expression: str) -> None:
    # Given a cron the local clock cannot honour / When parsed / Then a clear error
    with pytest.raises(ScheduleError):
        parse_schedule(expression)
