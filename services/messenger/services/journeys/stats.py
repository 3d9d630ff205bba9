"""A journey's numbers per version and step, per entry cohort (month and rank) and per
calendar week (Monday, Tokyo: when each send, delivery, open, click and treated
conversion happened), summed from the sharded counters (one Query), and its lift
against the holdout."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from messenger.domain.journeys.cohorts import WEEK_FIELDS, parse_scope, parse_week
from messenger.domain.journeys.lift import Lift, mean_lift, proportion_lift
from messenger.domain.journeys.people import STEP_METRICS, check_metric, times_counted
from messenger.services.journeys.intake import LIFT_WINDOWS
from messenger.services.ports import JourneyRepository
from shared.errors import NotFound
from shared.paging import page_after


def _lift(lift: Lift | None) -> dict[str, Any] | None:
    if lift is None:
        return None
    return {
        "treated": round(lift.treated, 6),
        "holdout": round(lift.holdout, 6),
        "difference": round(lift.difference, 6),
        "ci95": [
            None if lift.low is None else round(lift.low, 6),
            None if lift.high is None else round(lift.high, 6),
        ],
        "relative": None if lift.relative is None else round(lift.relative, 6),
    }


def _by_channel(steps: dict[str, dict[str, float]]) -> dict[str, int]:
    """Messages sent per channel (`sent_<channel>` counters), what the ROI prices."""
    out: dict[str, int] = defaultdict(int)
    for values in steps.values():
        for k, v in values.items():
            if k.startswith("sent_"):
                out[k.removeprefix("sent_")] += int(v)
    return dict(sorted(out.items()))


def summarise(journey: dict[str, float], steps: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The public numbers of one version (or of all versions summed)."""
    g = defaultdict(float, journey)
    exited = {
        k.removeprefix("exited_"): int(v) for k, v in journey.items() if k.startswith("exited_")
    }
    treated = int(g["entered"] - g["holdout"])
    finished = int(g["completed"]) + sum(exited.values())
    n_h = int(g["holdout"])
    lift = {
        "conversion": _lift(proportion_lift(int(g["conv_t"]), treated, int(g["conv_h"]), n_h)),
        "revenue_per_enrolled": _lift(
            mean_lift(g["rev_t"], g["revsq_t"], treated, g["rev_h"], g["revsq_h"], n_h)
        ),
        **{
            f"conversion_{w}d": _lift(
                proportion_lift(int(g[f"conv_t_d{w}"]), treated, int(g[f"conv_h_d{w}"]), n_h)
            )
            for w in LIFT_WINDOWS
        },
        "f2_rate": _lift(proportion_lift(int(g["f2_t"]), treated, int(g["f2_h"]), n_h)),
        **{
            f"f2_rate_{w}d": _lift(
                proportion_lift(int(g[f"f2_t_d{w}"]), treated, int(g[f"f2_h_d{w}"]), n_h)
            )
            for w in LIFT_WINDOWS
        },
    }
    return {
        "entered": int(g["entered"]),
        "holdout": n_h,
        "active": max(treated - finished, 0),
        "completed": int(g["completed"]),
        "parked": max(int(g["parked"] - g["unparked"]), 0),
        "exited": exited,
        "sent": int(sum(s.get("sent", 0) for s in steps.values())),
        **{
            name: int(sum(s.get(name, 0) for s in steps.values()))
            for name in ("delivered", "opened", "clicked")
        },
        "sent_by_channel": _by_channel(steps),
        "converted": int(g["conv_t"]),
        "revenue": str(g["rev_t"]),
        "discount": str(g["disc_t"]),
        "holdout_converted": n_h and int(g["conv_h"]),
        "holdout_revenue": str(g["rev_h"]),
        "lift": lift,
        "steps": {k: {n: int(v) for n, v in s.items()} for k, s in sorted(steps.items())},
    }


@dataclass(frozen=True)
class JourneyCustomers:
    """One page of the people behind one count of a journey's stats."""

    journey_id: str
    step: str | None
    metric: str
    count: int
    """People (distinct customers) in the count."""
    times: int
    """How often they are counted: more than `count` only when one person went through
    twice (entered again, or a step reached twice)."""
    stats: int
    """The number the stats show (the counters): more than `times` only by enrolments
    counted before each kept its own copy of its numbers, who cannot be listed."""
    customer_ids: list[str]
    next_after: str | None


@dataclass(frozen=True)
class JourneyStats:
    repo: JourneyRepository

    def customers(
        self,
        shop_id: str,
        journey_id: str,
        step: str | None,
        metric: str,
        limit: int,
        after: str | None,
    ) -> JourneyCustomers:
        """The customers behind a journey-wide count (entered, holdout, treated,
        converted, holdout_converted) or a step's (sent, delivered, opened, clicked), by
        id, a page at a time, from the enrolments' own copies of the numbers the counters
        hold."""
        check_metric(step, metric)
        head = self.repo.head(shop_id, journey_id)
        if head is None:
            raise NotFound(f"no journey {journey_id!r}", field="journey_id")
        if step is not None and step not in self._steps(shop_id, journey_id, head.version):
            raise NotFound(f"journey {journey_id!r} has no step {step!r}", field="step")
        times: dict[str, int] = defaultdict(int)
        for customer_id, numbers in self.repo.people(shop_id, journey_id):
            n = times_counted(numbers, step, metric)
            if n > 0:
                times[customer_id] += n
        ids = sorted(times)
        page, next_after = page_after(ids, limit, after)
        return JourneyCustomers(
            journey_id,
            step,
            metric,
            len(ids),
            sum(times.values()),
            self._shown(shop_id, journey_id, step, metric),
            page,
            next_after,
        )

    def _shown(self, shop_id: str, journey_id: str, step: str | None, metric: str) -> int:
        """The count as `read` answers it: the counters of every version and shard summed."""
        scope = "J" if step is None else f"S#{step}"
        every_step = step is None and metric in STEP_METRICS  # the steps summed
        total: dict[str, float] = defaultdict(float)
        for _, found, values in self.repo.counters(shop_id, journey_id):
            if found == scope or (every_step and found.startswith("S#")):
                for k, v in values.items():
                    total[f"{found}|{k}"] += float(v)
        return times_counted(total, step, metric)

    def _steps(self, shop_id: str, journey_id: str, latest: int) -> set[str]:
        """Every step id of every version (a count sums the versions)."""
        steps: set[str] = set()
        for version in range(1, latest + 1):
            source = self.repo.version(shop_id, journey_id, version) or {}
            steps.update(source.get("steps") or {})
        return steps

    def read(self, shop_id: str, journey_id: str) -> dict[str, Any]:
        if self.repo.head(shop_id, journey_id) is None:
            raise NotFound(f"no journey {journey_id!r}", field="journey_id")
        by_version: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        steps: dict[int, dict[str, dict[str, float]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(float))
        )
        cohorts: dict[int, dict[tuple[str, str], dict[str, float]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(float))
        )
        weeks: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for version, scope, values in self.repo.counters(shop_id, journey_id):
            cohort = parse_scope(scope)
            week = parse_week(scope)
            for k, v in values.items():
                if week is not None:
                    weeks[week][k] += float(v)
                elif scope == "J":
                    by_version[version][k] += float(v)
                elif cohort is not None:
                    cohorts[version][cohort][k] += float(v)
                else:
                    steps[version][scope.removeprefix("S#")][k] += float(v)
        total: dict[str, float] = defaultdict(float)
        total_steps: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for version in sorted(set(by_version) | set(steps)):
            for k, v in by_version[version].items():
                total[k] += v
            for step, values in steps[version].items():
                for k, v in values.items():
                    total_steps[step][k] += v
        return {
            "journey_id": journey_id,
            **summarise(dict(total), {k: dict(v) for k, v in total_steps.items()}),
            "cohorts": _cohorts(_summed(cohorts.values())),
            "weeks": [
                {"week": week, **{k: int(weeks[week].get(k, 0)) for k in WEEK_FIELDS}}
                for week in sorted(weeks)
            ],
            "versions": [
                {
                    "version": version,
                    **summarise(
                        dict(by_version[version]), {k: dict(v) for k, v in steps[version].items()}
                    ),
                    "cohorts": _cohorts(cohorts[version]),
                }
                for version in sorted(set(by_version) | set(steps))
            ],
        }


def _summed(
    versions: Iterable[dict[tuple[str, str], dict[str, float]]],
) -> dict[tuple[str, str], dict[str, float]]:
    total: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for by_cohort in versions:
        for cohort, values in by_cohort.items():
            for k, v in values.items():
                total[cohort][k] += v
    return total


def _cohorts(by_cohort: dict[tuple[str, str], dict[str, float]]) -> list[dict[str, Any]]:
    """Per entry month and rank then (`messenger.domain.journeys.cohorts`): who entered,
    was held out, was sent what per channel and converted, with revenue and discounts.
    People who entered before cohorts were counted are in the totals only."""
    out = []
    for (month, rank), values in sorted(by_cohort.items()):
        g = defaultdict(float, values)
        out.append(
            {
                "month": month,
                "rank": rank,
                "entered": int(g["entered"]),
                "holdout": int(g["holdout"]),
                "sent": int(g["sent"]),
                "sent_by_channel": _by_channel({"": values}),
                "converted": int(g["conv_t"]),
                "revenue": str(g["rev_t"]),
                "discount": str(g["disc_t"]),
                "holdout_converted": int(g["conv_h"]),
                "holdout_revenue": str(g["rev_h"]),
            }
        )
    return out
