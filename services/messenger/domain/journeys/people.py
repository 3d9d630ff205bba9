"""Who is behind a journey's numbers. Pure domain.

Every enrolment keeps its own copy of the journey and step numbers it added to the
counters (`J|entered`, `S#<step>|sent`...), written with them: a count of the stats is
the sum of those copies, and its people are the enrolments whose copy is not zero."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from messenger.domain.journeys.cohorts import WEEK_FIELDS, WEEK_PREFIX
from shared.errors import InvalidInput

JOURNEY_GROUPS = {
    "entered": ("entered",),
    "holdout": ("holdout",),
    "converted": ("conv_t",),
    "holdout_converted": ("conv_h",),
}
"""A journey-wide count of the stats → its counter (`treated` is entered less holdout)."""
STEP_METRICS = ("sent", "delivered", "opened", "clicked")
"""A step's counts of the stats that are people (one per enrolment the step sent to): the
ones the console shows. `executed` is not kept: every wait would write a copy for it."""
METRICS = (*JOURNEY_GROUPS, "treated", *STEP_METRICS)


KEPT = frozenset(name for names in JOURNEY_GROUPS.values() for name in names)
"""The journey-wide counter names an enrolment keeps its own copy of."""


def kept_values(scope: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """What of one counter an enrolment keeps (`<scope>|<name>`): only the numbers a
    drill-down lists people by, so the copy stays small and holds no revenue."""
    if scope == "J":
        return {f"J|{k}": v for k, v in values.items() if k in KEPT}
    if scope.startswith("S#"):
        return {f"{scope}|{k}": v for k, v in values.items() if k in STEP_METRICS}
    if scope.startswith(WEEK_PREFIX):  # who the week's sends, opens... were (the overview)
        return {f"{scope}|{k}": v for k, v in values.items() if k in WEEK_FIELDS}
    return {}


def check_metric(step: str | None, metric: str) -> None:
    """A journey-wide group must not name a step (a step's metric without one sums the
    steps, as the stats' journey-wide `sent`, `opened`... do)."""
    if step is not None and metric not in STEP_METRICS:
        raise InvalidInput(
            f"a step counts {', '.join(STEP_METRICS)}, not {metric!r}", field="metric"
        )


def times_counted(numbers: Mapping[str, Any], step: str | None, metric: str) -> int:
    """How often one enrolment's copy adds to the count (0: it is not in it)."""

    def n(name: str) -> int:
        return int(numbers.get(name, 0))

    if step is not None:
        return n(f"S#{step}|{metric}")
    if metric in STEP_METRICS:  # every step's, as the stats sum them
        return sum(
            int(v) for k, v in numbers.items() if k.startswith("S#") and k.endswith(f"|{metric}")
        )
    if metric == "treated":
        return max(n("J|entered") - n("J|holdout"), 0)
    return sum(n(f"J|{name}") for name in JOURNEY_GROUPS[metric])
