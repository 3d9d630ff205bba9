"""The lift of a journey against its holdout, with a 95 % confidence interval. Pure.

Conversion is a difference of two proportions (Wald interval: the groups are large by
the time anyone reads it; with fewer than one person in a group there is no interval).
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


def proportion_lift(conv_t: int, n_t: int, conv_h: int, n_h: int) -> Lift | None:
    if n_t <= 0 or n_h <= 0:
        return None
    p_t, p_h = conv_t / n_t, conv_h / n_h
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_h * (1 - p_h) / n_h)
    diff = p_t - p_h
    return Lift(p_t, p_h, diff, diff - Z95 * se, diff + Z95 * se)


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
