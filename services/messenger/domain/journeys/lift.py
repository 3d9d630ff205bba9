"""The lift of a journey against its holdout, with a 95 % confidence interval. Pure.

Conversion is a difference of two proportions, with Newcombe's hybrid score interval
(Newcombe 1998, method 10: each rate's Wilson interval, combined). The Wald interval it
replaces went past ±100 points and shrank to nothing at a 0 % or 100 % rate, which is
what a small holdout shows for weeks (a holdout of 2 who both bought gave -83 points
within [-113, -54]); the score interval stays within ±100 points and is close to Wald
for large groups. With nobody in a group there is no lift.
Revenue per enrolled person is a difference of means over everyone in each group
(zeros included), from the sums and sums of squares the counters keep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959964


@dataclass(frozen=True)
class Lift:
    treated: float
    holdout: float
    difference: float
    low: float | None
    high: float | None

    @property
    def relative(self) -> float | None:
        return self.difference / self.holdout if self.holdout else None


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a rate (n > 0)."""
    p = successes / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def proportion_lift(conv_t: int, n_t: int, conv_h: int, n_h: int) -> Lift | None:
    if n_t <= 0 or n_h <= 0:
        return None
    p_t, p_h = conv_t / n_t, conv_h / n_h
    low_t, high_t = wilson(conv_t, n_t)
    low_h, high_h = wilson(conv_h, n_h)
    diff = p_t - p_h
    low = diff - math.sqrt((p_t - low_t) ** 2 + (high_h - p_h) ** 2)
    high = diff + math.sqrt((high_t - p_t) ** 2 + (p_h - low_h) ** 2)
    return Lift(p_t, p_h, diff, low, high)


def mean_lift(
    sum_t: float, sq_t: float, n_t: int, sum_h: float, sq_h: float, n_h: int
) -> Lift | None:
    if n_t <= 0 or n_h <= 0:
        return None
    m_t, m_h = sum_t / n_t, sum_h / n_h
    var_t = max(sq_t / n_t - m_t * m_t, 0.0)
    var_h = max(sq_h / n_h - m_h * m_h, 0.0)
    se = math.sqrt(var_t / n_t + var_h / n_h)
    diff = m_t - m_h
    return Lift(m_t, m_h, diff, diff - Z95 * se, diff + Z95 * se)
