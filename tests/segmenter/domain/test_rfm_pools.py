"""A fan-out child scores its own rows against the whole shop's merged RFM pools, and
must give each row the score one pass over the whole shop gives it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segmenter.domain.segments.batch import (
    DAY_US,
    MISSING_INSTANT,
    ProfileTable,
    RfmPools,
    epoch_micros,
    rfm_pools,
    score_rfm,
)

NOW = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)


def _table(rows: list[tuple[int, int | None, int]]) -> ProfileTable:
    now = epoch_micros(NOW)
    return ProfileTable(
        customer_ids=[f"c{i}" for i in range(len(rows))],
        numbers={
            "order_count": np.array([float(c) for c, _, _ in rows]),
            "revenue": np.array([float(r) for _, _, r in rows]),
        },
        instants={
            "last_order_at": np.array(
                [MISSING_INSTANT if d is None else now - d * DAY_US for _, d, _ in rows],
                dtype=np.int64,
            )
        },
    )


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 6), st.one_of(st.none(), st.integers(0, 900)), st.integers(0, 5)),
        min_size=1,
        max_size=60,
    ),
    cuts=st.lists(st.integers(0, 60), max_size=4),
)
def test_parts_scored_against_merged_pools_equal_the_whole_shop(
    rows: list[tuple[int, int | None, int]], cuts: list[int]
) -> None:
    # Given a shop split into parts (a fan-out's scan segments), ties and unranked included
    bounds = sorted({0, len(rows), *(min(c, len(rows)) for c in cuts)})
    parts = [rows[a:b] for a, b in itertools.pairwise(bounds)]
    whole = score_rfm(_table(rows), NOW)

    # When each part gives its share, the shares merge, and each part is scored on them
    pools = RfmPools.merge([rfm_pools(_table(p)) for p in parts])
    scored = [score_rfm(_table(p), NOW, pools=pools) for p in parts]

    # Then every row has the whole shop's R, F, M and rank
    for name in ("r", "f", "m", "rank"):
        joined = np.concatenate([getattr(s, name) for s in scored])
        assert np.array_equal(joined, getattr(whole, name)), name
