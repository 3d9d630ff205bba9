"""A/B/n tests with Thompson sampling. Pure domain: no AWS, no numpy needed.

Each variant's open (or click) rate has a Beta(1 + successes, 1 + failures) posterior.
A campaign goes out in waves; for every recipient of a wave one value is drawn from
each variant's posterior and the highest draw picks the variant. Early on the
posteriors are wide and the split is close to even; as results come in the split
shifts toward the better variant, so fewer people get the worse one than with a fixed
equal split, while a variant that only looked bad by chance still gets some traffic.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class VariantStats:
    name: str
    trials: int = 0
    """Messages the provider accepted (the denominator of the rate)."""
    successes: int = 0
    """Unique opens or unique clicks, whichever the test optimises."""

    @property
    def failures(self) -> int:
        return max(self.trials - self.successes, 0)


def thompson_pick(stats: Sequence[VariantStats], rng: random.Random) -> str:
    """One recipient's variant: the highest draw from the Beta posteriors."""
    best, best_draw = stats[0].name, -1.0
    for s in stats:
        draw = rng.betavariate(1 + s.successes, 1 + s.failures)
        if draw > best_draw:
            best, best_draw = s.name, draw
    return best


def thompson_split(stats: Sequence[VariantStats], n: int, rng: random.Random) -> list[str]:
    """Variants for the next `n` recipients, drawn from the current posteriors."""
    if not stats:
        raise ValueError("an A/B test needs at least one variant")
    if len(stats) == 1:
        return [stats[0].name] * n
    return [thompson_pick(stats, rng) for _ in range(n)]


def equal_split(names: Sequence[str], n: int) -> list[str]:
    """The fixed split Thompson sampling is compared with: round robin."""
    return [names[i % len(names)] for i in range(n)]


def win_probabilities(
    stats: Sequence[VariantStats], rng: random.Random, draws: int = 2000
) -> dict[str, float]:
    """How likely each variant is the best, by Monte Carlo over the posteriors."""
    wins = {s.name: 0 for s in stats}
    for _ in range(draws):
        wins[thompson_pick(stats, rng)] += 1
    return {name: count / draws for name, count in wins.items()}
