"""Scheduled work, one shop at a time, so one shop never stalls another.

Every scheduled job (the segmenter's nightly recompute, the messenger's dispatcher, the
feedback restock waves) loops over shops. Run through `for_each_shop`, a shop whose work
raises is logged (job, shop id and the error's type only: its message may quote personal
data), tried once more, and then counted as failed; every other shop still runs. The
summary says which shops failed, and the schedule handler returns it, so the run is
visible; the failed shop's work is tried again on the next tick in any case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from shared.log import get_logger

T = TypeVar("T")
ATTEMPTS = 2
"""A shop's work is tried at most this often per run (a first try and one retry)."""
_log = get_logger("kizuna.scheduled")


@dataclass
class ShopRun(Generic[T]):
    """What one run of a job did: each shop's result, and the shops that failed."""

    job: str
    results: dict[str, T] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    """Shop id → the error type of its last attempt."""
    retried: list[str] = field(default_factory=list)
    """Shops whose first attempt failed (whether the retry then worked or not)."""

    @property
    def ok(self) -> bool:
        return not self.failed

    def report(self) -> dict[str, Any]:
        """The counts and failures a handler returns (results are the caller's to add)."""
        return {
            "shops_done": len(self.results),
            "shops_failed": len(self.failed),
            "failed": dict(self.failed),
            "retried": list(self.retried),
        }


def for_each_shop(
    job: str,
    shops: Iterable[str],
    work: Callable[[str], T],
    *,
    attempts: int = ATTEMPTS,
) -> ShopRun[T]:
    """`work(shop_id)` for every shop, each isolated from the others' failures."""
    run: ShopRun[T] = ShopRun(job)
    for shop_id in dict.fromkeys(shops):
        for attempt in range(1, attempts + 1):
            try:
                run.results[shop_id] = work(shop_id)
            except Exception as err:
                error = type(err).__name__
                last = attempt == attempts
                _log.error(
                    "scheduled work failed for a shop",
                    extra={
                        "job": job,
                        "shop": shop_id,
                        "error": error,
                        "attempt": attempt,
                        "gave_up": last,
                    },
                )
                if attempt == 1:
                    run.retried.append(shop_id)
                if last:
                    run.failed[shop_id] = error
                continue
            run.failed.pop(shop_id, None)
            break
    if run.failed:
        _log.error(
            "scheduled job finished with failed shops",
            extra={"job": job, "shops_failed": len(run.failed), "shops_done": len(run.results)},
        )
    return run
