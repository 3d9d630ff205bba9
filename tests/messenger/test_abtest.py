"""Thompson sampling, pure domain: a seeded simulation against a fixed equal split."""

from __future__ import annotations

import random

import pytest

from messenger.domain.abtest import VariantStats, equal_split, thompson_split, win_probabilities
from messenger.domain.campaign import Campaign, Variant
from shared.errors import InvalidInput

TRUE_OPEN_RATE = {"A": 0.10, "B": 0.25}


def _simulate_waves(audience: int, wave: int, seed: int) -> dict[str, int]:
    """A campaign in waves: each wave's split is drawn from the posteriors so far, and
    each message is opened with its variant's true (unknown) rate."""
    rng = random.Random(seed)
    opens = random.Random(seed + 1)
    stats = {name: VariantStats(name) for name in TRUE_OPEN_RATE}
    sent = dict.fromkeys(TRUE_OPEN_RATE, 0)
    for start in range(0, audience, wave):
        split = thompson_split(list(stats.values()), min(wave, audience - start), rng)
        for name in split:
            opened = opens.random() < TRUE_OPEN_RATE[name]
            s = stats[name]
            stats[name] = VariantStats(name, s.trials + 1, s.successes + int(opened))
            sent[name] += 1
    return sent


def test_thompson_sends_fewer_messages_to_the_worse_variant_than_an_equal_split() -> None:
    # Given 4,000 recipients sent in waves of 200, variant A opening at 10 %, B at 25 %
    audience, wave = 4000, 200
    fixed = equal_split(list(TRUE_OPEN_RATE), audience)
    # When the split follows Thompson sampling (several seeds, so it is not luck)
    worse = [_simulate_waves(audience, wave, seed)["A"] for seed in range(5)]
    # Then the worse variant gets far fewer than the equal split's half
    assert fixed.count("A") == 2000
    assert all(n < 0.6 * fixed.count("A") for n in worse), worse
    # And it still gets some traffic (it is explored, not starved from the start)
    assert all(n >= wave // 4 for n in worse), worse


def test_the_first_wave_is_close_to_even_without_results() -> None:
    split = thompson_split([VariantStats("A"), VariantStats("B")], 1000, random.Random(7))
    assert 400 < split.count("A") < 600


def test_win_probability_favours_the_variant_with_more_opens() -> None:
    stats = [VariantStats("A", 500, 50), VariantStats("B", 500, 120)]
    wins = win_probabilities(stats, random.Random(1), draws=500)
    assert wins["B"] > 0.99


def test_same_seed_same_split() -> None:
    stats = [VariantStats("A", 10, 2), VariantStats("B", 10, 3), VariantStats("C", 10, 1)]
    assert thompson_split(stats, 50, random.Random("c1:100")) == thompson_split(
        stats, 50, random.Random("c1:100")
    )


def test_unknown_variant_and_bad_definitions_are_refused() -> None:
    from datetime import UTC, datetime

    campaign = Campaign(
        "c1", "acme", "Sale", "vip", (Variant("A", "m1"), Variant("B", "m2")), datetime.now(UTC)
    )
    with pytest.raises(InvalidInput) as err:
        campaign.variant("Z")
    assert err.value.field == "variant"
    for bad, field in [
        (Campaign("c", "s", "n", "seg", (), datetime.now(UTC)), "variants"),
        (
            Campaign(
                "c", "s", "n", "seg", (Variant("A", "m"), Variant("A", "m")), datetime.now(UTC)
            ),
            "variants",
        ),
        (
            Campaign("c", "s", "n", "seg", (Variant("A B", "m"),), datetime.now(UTC)),
            "variants.0.name",
        ),
        (
            Campaign("c", "s", "n", "seg", (Variant("A", "m"),), datetime.now(UTC), metric="x"),
            "metric",
        ),
    ]:
        with pytest.raises(InvalidInput) as err:
            bad.validate()
        assert err.value.field == field
