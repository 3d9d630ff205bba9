"""The nightly recompute as a fan-out over DynamoDB parallel-scan segments: the steps of
the template's NightlyRecomputeMachine (Step Functions, a Distributed Map per phase),
each a call of the NightlyFunction.

1. `plan`: the run (named by its start), the shops, and the scan segments to map over.
2. `rank` (one child per segment): the segment's share of each shop's RFM pools, read
   straight from the items (a projection of the three fields RFM reads).
3. `pools`: the shares merged, per shop (quantiles are taken over the whole shop).
4. `apply` (one child per segment): the segment's profiles read as columns straight
   from the items (`segments.stored`: no profile object per customer), scored against
   their shop's pools, every segment evaluated column-wise, entries and exits published
   and written in the single-Lambda recompute's redo-safe order (`Segments.apply_stored`);
   the segment's share of the recommendation counts (`reco_parts.part_of`, column-wise)
   kept in the run's files.
5. `finish`: each shop's counts summed over the children and stored, its
   recommendation model built from the children's shares (`reco_parts.merged`: no
   whole-shop read).

Resumable: each child's work is recorded in the run's files (a pool share per segment, a
recommendation share and a done marker per segment and shop) and a rerun of the run
skips what is recorded, so a new execution started with `{"resume": <the failed run's
start>}` redoes only the children (and shops) that failed, and a shop's members and
purchases are counted once. A shop that fails in a child does not stop the child's other
shops; the child fails at its end, `finish` stores no counts for that shop and names it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from segmenter.domain.membership import inputs_pools, shop_rfm
from segmenter.domain.model import Profile
from segmenter.services.ports import NightlyRuns, ScanSegments
from segmenter.services.segments import Segments
from shared.log import get_logger

_log = get_logger("kizuna.nightly")
MAX_SEGMENTS = 1000
"""DynamoDB allows up to 1,000,000 scan segments; a Distributed Map this many children."""


class ChildFailed(RuntimeError):
    """A fan-out child finished with shops that failed (named, no personal data): the Map
    records the child as failed, and a redrive runs it again for those shops only."""


def run_name(started: datetime) -> str:
    return "nightly-" + started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


class NightlyFanout:
    def __init__(
        self,
        scan: ScanSegments,
        runs: NightlyRuns,
        segments: Segments,
        shops: Callable[[], Sequence[str]],
    ) -> None:
        self._scan = scan
        self._runs = runs
        self._segments = segments
        self._shops = shops

    def plan(self, started: datetime, total: int) -> dict[str, Any]:
        """The run's plan, kept so a redriven run keeps its shops, instant and segments."""
        if not 1 <= total <= MAX_SEGMENTS:
            raise ValueError(f"total_segments must be 1-{MAX_SEGMENTS}")
        run = run_name(started)
        kept = self._runs.get_json(run, "plan")
        if kept is None:
            kept = {"run": run, "now": started.isoformat(), "total": total, "shops": []}
            kept["shops"] = sorted(self._shops())
            self._runs.put_json(run, "plan", kept)
        return {
            "run": run,
            "now": kept["now"],
            "total": kept["total"],
            "segments": list(range(kept["total"])),
        }

    def rank(self, run: str, now: datetime, segment: int, total: int) -> dict[str, Any]:
        """This segment's share of every shop's RFM pools (and which shops it holds)."""
        name = f"shares/{segment}"
        if self._runs.get_arrays(run, name) is not None:
            return {"segment": segment, "skipped": True}
        by_shop = self._scan.segment_rfm_inputs(segment, total)
        arrays: dict[str, Any] = {"shops": _names(sorted(by_shop))}
        for index, shop_id in enumerate(sorted(by_shop)):
            pools = inputs_pools(by_shop[shop_id])
            arrays.update(_pool_arrays(index, pools.last, pools.count, pools.revenue))
        self._runs.put_arrays(run, name, arrays)
        return {"segment": segment, "shops": len(by_shop)}

    def pools(self, run: str, total: int) -> dict[str, Any]:
        """Every segment's shares merged into each shop's pools (one file for the run)."""
        from segmenter.domain.segments.batch import RfmPools

        parts: dict[str, list[RfmPools]] = {}
        for segment in range(total):
            share = self._runs.get_arrays(run, f"shares/{segment}")
            if share is None:
                raise ChildFailed(f"segment {segment} has no share: its rank child failed")
            for index, shop_id in enumerate(share["shops"].tolist()):
                parts.setdefault(shop_id, []).append(_pools_from(share, index))
        arrays: dict[str, Any] = {"shops": _names(sorted(parts))}
        for index, shop_id in enumerate(sorted(parts)):
            merged = RfmPools.merge(parts[shop_id])
            arrays.update(_pool_arrays(index, merged.last, merged.count, merged.revenue))
        self._runs.put_arrays(run, "pools", arrays)
        return {"shops": len(parts)}

    def apply(self, run: str, now: datetime, segment: int, total: int) -> dict[str, Any]:
        """This segment's profiles, read as columns straight from the items, scored and
        re-evaluated, shop by shop; a shop already done in this run (a redrive) is
        skipped. A shop with a segment the columnar engine cannot run reads the segment's
        profiles instead (one more scan, then per customer for that rule)."""
        from segmenter.domain.reco_parts import part_of
        from segmenter.domain.segments.batch import supports

        pools = self._runs.get_arrays(run, "pools")
        if pools is None:
            raise ChildFailed("the run has no pools: its pools step has not run")
        index = {shop: i for i, shop in enumerate(pools["shops"].tolist())}
        by_shop = self._scan.segment_columns(segment, total, now)
        profiles: dict[str, list[Profile]] | None = None
        done, skipped, failed = 0, 0, []
        for shop_id in sorted(by_shop):
            marker = f"done/{segment}/{shop_id}"
            if shop_id not in index or self._runs.get_json(run, marker) is not None:
                skipped += 1  # done in this run, or its first profile came after `rank`
                continue
            try:
                compiled = self._segments.compiled(shop_id)
                config = self._segments.rfm_config(shop_id)
                shop_pools = _pools_from(pools, index[shop_id])
                if all(supports(s.rule) for s in compiled):
                    applied = self._segments.apply_stored(
                        shop_id, by_shop[shop_id], compiled, now, config, shop_pools
                    )
                else:  # a rule evaluated per customer (a topic's consent) needs profiles
                    if profiles is None:
                        profiles = self._scan.segment_profiles(segment, total, now)
                    scores = shop_rfm(profiles[shop_id], now, config, shop_pools)
                    applied = self._segments.apply_scores(
                        shop_id, profiles[shop_id], scores, compiled, now
                    )
                result = {**applied.summary.as_dict(), "counts": applied.counts}
                share = part_of(by_shop[shop_id].table.activities, now)
                self._runs.put_arrays(run, f"reco/{segment}/{shop_id}", share)  # before done
            except Exception as err:
                _log.error(
                    "nightly child failed for a shop",
                    extra={
                        "run": run,
                        "segment": segment,
                        "shop": shop_id,
                        "error": type(err).__name__,
                    },
                )
                failed.append(shop_id)
                continue
            self._runs.put_json(run, marker, result)
            done += 1
        if failed:
            raise ChildFailed(f"segment {segment}: {len(failed)} shop(s) failed: {failed}")
        return {"segment": segment, "shops_done": done, "shops_skipped": skipped}

    def finish(self, run: str, now: datetime, total: int) -> dict[str, Any]:
        """Each shop whose every child is done: its counts summed and stored, its
        recommendation model built from the children's shares. A shop a child failed is
        named, its counts and model left as they were (a redrive finishes it)."""
        plan = self._runs.get_json(run, "plan") or {"shops": []}
        holders: dict[str, list[int]] = {shop: [] for shop in plan["shops"]}
        for segment in range(total):
            share = self._runs.get_arrays(run, f"shares/{segment}")
            for shop_id in share["shops"].tolist() if share is not None else []:
                holders.setdefault(shop_id, []).append(segment)
        shops: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for shop_id, segments in sorted(holders.items()):
            parts = [self._runs.get_json(run, f"done/{k}/{shop_id}") for k in segments]
            if any(p is None for p in parts):
                failed[shop_id] = "ChildFailed"
                continue
            summary = _summed([p for p in parts if p is not None])
            self._segments.put_counts(shop_id, summary.pop("counts"), now)
            self._store_model(run, now, shop_id, segments)
            shops[shop_id] = summary
        if failed:
            raise ChildFailed(
                f"{run}: {len(failed)} shop(s) not finished: {sorted(failed)}; "
                f'start the machine with {{"resume": "{plan.get("now")}"}}'
            )
        return {
            "run": run,
            "shops": shops,
            "shops_done": len(shops),
            "shops_failed": len(failed),
            "failed": failed,
        }

    def _store_model(self, run: str, now: datetime, shop_id: str, segments: list[int]) -> None:
        """The shop's model from its children's shares; from its profiles in one pass
        if a share is missing (a run its done markers began before shares were kept)."""
        from segmenter.domain.reco_parts import merged
        from segmenter.domain.recommend import model_of

        shares = [self._runs.get_arrays(run, f"reco/{k}/{shop_id}") for k in segments]
        if any(s is None for s in shares):
            self._segments.rebuild_recommendations(shop_id, now)
            return
        model = model_of(merged([s for s in shares if s is not None]), now)
        self._segments.store_recommendations(shop_id, model)


def _names(values: Sequence[str]) -> Any:
    import numpy as np

    return np.array(list(values), dtype=np.str_)


def _pool_arrays(index: int, last: Any, count: Any, revenue: Any) -> dict[str, Any]:
    return {f"last_{index}": last, f"count_{index}": count, f"revenue_{index}": revenue}


def _pools_from(arrays: dict[str, Any], index: int) -> Any:
    from segmenter.domain.segments.batch import RfmPools

    return RfmPools(arrays[f"last_{index}"], arrays[f"count_{index}"], arrays[f"revenue_{index}"])


def _summed(parts: list[dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    ranks: dict[str, int] = {}
    out = {"profiles": 0, "entered": 0, "exited": 0}
    for part in parts:
        for key in out:
            out[key] += int(part[key])
        for seg, n in part["counts"].items():
            counts[seg] = counts.get(seg, 0) + int(n)
        for rank, n in part["ranks"].items():
            ranks[rank] = ranks.get(rank, 0) + int(n)
    return {**out, "ranks": ranks, "counts": counts}
