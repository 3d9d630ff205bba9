"""The local stack's memory holding a shop's history: `--orders` orders of `--customers`
customers (the target: 100,000 of 20,000 under 1.5 GB), as the stack's peak RSS.

Loading that through the stack's API would take hours at the stack's ingest rate
(`bench/batch_ingest.py`), so the items are made by the real import path instead: a
synthetic Shopify export goes through `import_orders` and the real
`DynamoProfileRepository`, whose requests a dict-backed client answers (no conditions:
the data is fresh). The items land in the snapshot the stack loads on start
(`snapshot.json.gz`, the format `ops.local.persistence` writes), so the stack holds
exactly what an import into it would have written. Then `kizuna local up` starts on that
state, a shop key is made, a sample of customers is read back over HTTP, and a batch of
new orders for existing customers is posted (the profiles grow as they would).

It prints the items per kind and the stack's peak memory (VmHWM) after the start and
after the traffic, with the baseline of an empty stack measured in the same run.

    .venv/bin/python bench/stack_memory.py --orders 100000 --customers 20000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))
sys.path.insert(0, str(ROOT))

from bench.batch_ingest import order_events  # noqa: E402
from bench.import_throughput import SHOPIFY_HEADER, synthetic_rows  # noqa: E402

from ops.local.process import LocalUpProcess, peak_rss_mib  # noqa: E402

SHOP = "bench"


class DictDynamoDB:
    """The few DynamoDB calls the import makes, answered from a dict (no conditions)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    @staticmethod
    def _key(item: dict[str, Any]) -> tuple[str, str]:
        return item["pk"]["S"], item["sk"]["S"]

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        ((table, request),) = RequestItems.items()
        found = [self.items[k] for k in map(self._key, request["Keys"]) if k in self.items]
        return {"Responses": {table: found}}

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:  # noqa: N803
        item = self.items.get(self._key(Key))
        return {"Item": item} if item else {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        for entry in TransactItems:
            if "Put" in entry:
                item = entry["Put"]["Item"]
                self.items[self._key(item)] = item
            elif "Delete" in entry:
                self.items.pop(self._key(entry["Delete"]["Key"]), None)
        return {}


def _lines(rows: int, customers: int) -> Iterator[str]:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SHOPIFY_HEADER)
    for row in synthetic_rows(rows, customers):
        writer.writerow(row)
        if buffer.tell() > 1 << 16:
            yield from buffer.getvalue().splitlines(keepends=True)
            buffer.seek(0)
            buffer.truncate()
    yield from buffer.getvalue().splitlines(keepends=True)


def build_items(orders: int, customers: int) -> tuple[DictDynamoDB, int, float]:
    """Import rows until `orders` orders are in; the client holding the items."""
    from segmenter.adapters.repository import DynamoProfileRepository
    from segmenter.importer import import_orders
    from shared.adapters.eventbridge import EventPublisher

    class NoPublisher(EventPublisher):
        def publish(self, envelopes: Any) -> None:
            if envelopes:
                raise AssertionError("a historical import publishes nothing")

    client = DictDynamoDB()
    repo = DynamoProfileRepository(client, "segmenter")  # type: ignore[arg-type]
    rows = orders * 2  # synthetic_rows averages two line items per order
    started = time.perf_counter()
    summary = import_orders(_lines(rows, customers), "shopify", SHOP, repo, NoPublisher())
    seconds = time.perf_counter() - started
    if summary.orders_rejected or summary.orders_conflicting:
        raise SystemExit(f"the synthetic file did not import cleanly: {summary.as_dict()}")
    return client, summary.orders_imported, seconds


def write_snapshot(state: Path, table: str, client: DictDynamoDB) -> int:
    """The items in the stack's snapshot format (`ops.local.persistence`)."""
    from ops.local import persistence

    path = state / persistence.SNAPSHOT_FILE
    persistence.write_items(path, ((table, item) for item in client.items.values()))
    return path.stat().st_size


def segmenter_table() -> str:
    from ops.local.template import load_template, tables

    for spec in tables(load_template(ROOT / "infra" / "template.yaml")):
        if spec.logical_id.lower().startswith("segmenter"):
            return spec.name
    raise SystemExit("no segmenter table in the template")


def _exercise(stack: LocalUpProcess, customers: list[str], new_orders: int) -> dict[str, Any]:
    created = stack.kizuna("shop", "create", SHOP, "--name", "Bench")
    if created.returncode != 0:
        raise SystemExit(created.stderr)
    headers = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
    with httpx.Client(base_url=stack.api, headers=headers, timeout=600) as http:
        read = 0
        for customer in customers:
            response = http.get(f"/v1/customers/{customer}/orders", params={"limit": "200"})
            read += len(response.json()) if response.status_code == 200 else 0
        events = list(order_events(new_orders, 1))
        for event in events:  # existing customers' ids, so their profiles grow
            event["customer"] = {"customer_id": customers[0], "email": "c0@example.jp"}
        accepted = 0
        for start in range(0, len(events), 100):
            response = http.post("/v1/events/batch", json={"events": events[start : start + 100]})
            accepted += response.json()["accepted"] if response.status_code == 200 else 0
        httpx.post(f"{stack.api}/_local/drain", timeout=3600)
    return {"orders_read_back": read, "new_orders_accepted": accepted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--new-orders", type=int, default=200)
    args = parser.parse_args()

    table = segmenter_table()
    with tempfile.TemporaryDirectory(prefix="kizuna-memory-") as folder:
        empty_state = Path(folder) / "empty"
        empty_state.mkdir()
        with LocalUpProcess(empty_state, ROOT) as empty:
            empty_peak = peak_rss_mib(empty.pid)

        client, orders, build_seconds = build_items(args.orders, args.customers)
        kinds = Counter(pk.split("#")[2] for pk, _ in client.items)
        state = Path(folder) / "state"
        state.mkdir()
        snapshot_bytes = write_snapshot(state, table, client)
        profiles = sorted(
            item["customer_id"]["S"] for (_, sk), item in client.items.items() if sk == "PROFILE"
        )
        item_count = len(client.items)
        del client
        started = time.perf_counter()
        stack = LocalUpProcess(state, ROOT).start(timeout=3600)  # loads the whole snapshot
        try:
            start_seconds = time.perf_counter() - started
            loaded_peak = peak_rss_mib(stack.pid)
            exercised = _exercise(stack, profiles[:20], args.new_orders)
            peak = peak_rss_mib(stack.pid)
        finally:
            stack.stop(timeout=3600)
    print(
        f"history: {orders:,} orders of {len(profiles):,} customers, {item_count:,} items "
        f"({dict(kinds)}), built by the import path in {build_seconds:.0f} s; snapshot "
        f"{snapshot_bytes / 1e6:.0f} MB"
    )
    print(f"stack start on it: {start_seconds:.0f} s")
    print(
        f"stack peak memory: empty {empty_peak:.0f} MiB; holding the history {loaded_peak:.0f} "
        f"MiB; after reads and {exercised['new_orders_accepted']} new orders {peak:.0f} MiB"
    )
    print(f"orders read back for 20 customers: {exercised['orders_read_back']}")
    print(
        json.dumps(
            {
                "benchmark": "stack_memory",
                "orders": orders,
                "customers": len(profiles),
                "items": item_count,
                "kinds": dict(kinds),
                "empty_peak_mib": empty_peak,
                "loaded_peak_mib": loaded_peak,
                "peak_mib": peak,
                "start_seconds": start_seconds,
                **exercised,
            }
        )
    )


if __name__ == "__main__":
    main()
