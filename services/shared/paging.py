"""Paging a sorted list of ids by cursor: the drill-down lists of every service answer a
page as the `limit` ids after the last one the caller saw."""

from __future__ import annotations

import bisect
from collections.abc import Sequence


def page_after(ids: Sequence[str], limit: int, after: str | None) -> tuple[list[str], str | None]:
    """The `limit` ids after `after` (sorted ids), and the last one when more follow."""
    start = 0 if after is None else bisect.bisect_right(ids, after)
    found = list(ids[start : start + limit])
    more = start + limit < len(ids)
    return found, (found[-1] if more and found else None)
