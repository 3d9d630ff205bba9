"""Order ingest through `POST /v1/events/batch` into the local stack, in orders/s, as a
ratio to the same ingest use case on in-process moto (no HTTP, no EventBridge, no
router) measured in the same run; and the stack's peak memory once it holds them.

(a) stack: `kizuna local up` in its own process; `--concurrency` clients post
    `--orders` orders of `--customers` customers in batches of `--batch`, then the
    stack is drained (every `order.placed` handled by the messenger and feedback) and
    every order is counted back through `GET /v1/customers/{id}/orders` (sampled).
(b) baseline (`--baseline-orders`, 0 to skip): the same orders through
    `services.ingest_command` on the real repository over in-process moto (with
    `ops.local.moto_dynamodb`), publishing nowhere. What (a) costs beyond it is HTTP,
    the router, EventBridge and SQS fan-out, and the consumers' work.

The memory target of the local stack (100,000 orders of 20,000 customers under 1.5 GB):

    .venv/bin/python bench/batch_ingest.py --orders 100000 --customers 20000 --baseline-orders 0

Not part of `make test`: the figures are this machine's under whatever else it runs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))
sys.path.insert(0, str(ROOT))

from bench.harness import create_tables, drain, run_threads  # noqa: E402

from ops.local.process import LocalUpProcess, peak_rss_mib  # noqa: E402

SHOP = "bench"
START = datetime(2024, 1, 1, tzinfo=UTC)


def order_events(orders: int, customers: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`order.placed` events spread over two years, 1-3 lines each, each customer with a
    mail address and consent (so the welcome journey runs for first-time buyers)."""
    rnd = random.Random(seed)
    for n in range(orders):
        c = rnd.randrange(customers)
        lines = [
            {"sku": f"SKU-{rnd.randrange(400)}", "quantity": 1, "unit_price": "1980"}
            for _ in range(rnd.choice((1, 1, 2, 3)))
        ]
        yield {
            "type": "order.placed",
            "event_id": f"bench-o-{n}",
            "order_id": f"o-{n}",
            "placed_at": (START + timedelta(minutes=10 * n)).isoformat(),
            "currency": "JPY",
            "total": str(1980 * len(lines)),
            "items": lines,
            "customer": {
                "customer_id": f"c-{c}",
                "email": f"c-{c}@example.jp",
                "consents": [{"channel": "email", "granted": True, "source": "checkout"}],
            },
        }


def _chunks(events: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for event in events:
        chunk.append(event)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_stack(
    orders: int, customers: int, batch: int, concurrency: int, progress: bool
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kizuna-batch-") as folder:
        state = Path(folder) / "state"
        state.mkdir()
        with LocalUpProcess(state, ROOT) as stack:
            created = stack.kizuna("shop", "create", SHOP, "--name", "Bench")
            if created.returncode != 0:
                raise SystemExit(created.stderr)
            token = created.stdout.strip().splitlines()[-1]
            headers = {"Authorization": f"Bearer {token}"}
            chunks = _chunks(order_events(orders, customers), batch)
            lock = threading.Lock()
            statuses: Counter[str] = Counter()
            seconds_per_batch: list[float] = []

            def worker() -> None:
                with httpx.Client(base_url=stack.api, headers=headers, timeout=600) as http:
                    while True:
                        with lock:
                            chunk = next(chunks, None)
                        if chunk is None:
                            return
                        began = time.perf_counter()
                        response = http.post("/v1/events/batch", json={"events": chunk})
                        took = time.perf_counter() - began
                        with lock:
                            seconds_per_batch.append(took)
                            if response.status_code != 200:
                                statuses[f"http {response.status_code}"] += len(chunk)
                                continue
                            for result in response.json()["results"]:
                                statuses[result["status"]] += 1
                            done = sum(statuses.values())
                        if progress and done % (batch * 20) == 0:
                            print(f"  {done:,} orders, stack {peak_rss_mib(stack.pid):.0f} MiB")

            seconds = run_threads(concurrency, worker)
            drained, drain_seconds = drain(stack.api, timeout=3600)
            stored = _count_stored(stack.api, headers, orders, customers)
            peak = peak_rss_mib(stack.pid)
    return {
        "orders": orders,
        "customers": customers,
        "batch": batch,
        "concurrency": concurrency,
        "seconds": seconds,
        "orders_per_s": orders / seconds,
        "orders_and_drain_per_s": orders / (seconds + drain_seconds),
        "batch_p50_s": sorted(seconds_per_batch)[len(seconds_per_batch) // 2],
        "statuses": dict(statuses),
        "drained": drained,
        "drain_seconds": drain_seconds,
        "stored_sample": stored,
        "stack_peak_rss_mib": peak,
    }


def _count_stored(
    api: str, headers: dict[str, str], orders: int, customers: int, sample: int = 50
) -> dict[str, int]:
    """Orders the segmenter holds for a sample of customers, against what was sent."""
    expected: Counter[str] = Counter(
        e["customer"]["customer_id"] for e in order_events(orders, customers)
    )
    picked = sorted(expected)[:sample]
    stored = 0
    with httpx.Client(base_url=api, headers=headers, timeout=120) as http:
        for customer in picked:
            cursor: str | None = None
            while True:
                params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
                response = http.get(f"/v1/customers/{customer}/orders", params=params)
                stored += len(response.json())
                cursor = response.headers.get("X-Next-Cursor")
                if not cursor:
                    break
    return {"sent": sum(expected[c] for c in picked), "stored": stored}


def run_baseline(orders: int, customers: int) -> dict[str, Any]:
    """The same events through the ingest use case on in-process moto, no publisher."""
    import os

    import boto3
    from moto import mock_aws

    from ops.local import moto_dynamodb
    from segmenter.adapters.repository import DynamoProfileRepository
    from segmenter.entrypoints.schemas import EventBatch
    from segmenter.services.ingest import Ingest
    from segmenter.services.segments import SegmentCache
    from shared import clock
    from shared.adapters.eventbridge import EventPublisher
    from shared.contracts.envelope import EventEnvelope

    class NullPublisher(EventPublisher):
        def publish(self, envelopes: Any) -> None:
            _ = list[EventEnvelope](envelopes)

    moto_dynamodb.install()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="ap-northeast-1",
    )
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="ap-northeast-1")
        repo = DynamoProfileRepository(ddb, create_tables(ddb)["SegmenterTable"])
        ingest = Ingest(
            repo, repo, repo, repo, repo, NullPublisher(), clock.now, SegmentCache(repo)
        )
        statuses: Counter[str] = Counter()
        started = time.perf_counter()
        for chunk in _chunks(order_events(orders, customers), 100):
            for event in EventBatch.model_validate({"events": chunk}).events:
                result = ingest.handle(event.to_command(SHOP))
                statuses["duplicate" if result.duplicate else "accepted"] += 1
        seconds = time.perf_counter() - started
    return {"orders": orders, "seconds": seconds, "orders_per_s": orders / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--baseline-orders", type=int, default=500)
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()

    stack = run_stack(args.orders, args.customers, args.batch, args.concurrency, args.progress)
    baseline = (
        run_baseline(args.baseline_orders, max(args.baseline_orders // 4, 1))
        if args.baseline_orders
        else None
    )
    print(
        f"stack: {stack['orders']:,} orders of {stack['customers']:,} customers in batches of "
        f"{stack['batch']} from {stack['concurrency']} clients: {stack['orders_per_s']:.0f} "
        f"orders/s ({stack['orders_and_drain_per_s']:.0f}/s with the drain of "
        f"{stack['drain_seconds']:.0f} s); statuses {stack['statuses']}"
    )
    print(
        f"stored (sample of customers): {stack['stored_sample']['stored']} of "
        f"{stack['stored_sample']['sent']} sent; drained: {stack['drained']}"
    )
    print(f"stack peak memory: {stack['stack_peak_rss_mib']:.0f} MiB")
    if baseline:
        print(
            f"baseline, the ingest use case on in-process moto: {baseline['orders_per_s']:.0f} "
            f"orders/s; stack / baseline = {stack['orders_per_s'] / baseline['orders_per_s']:.2f}"
        )
    print(json.dumps({"benchmark": "batch_ingest", "stack": stack, "baseline": baseline}))
    ok = stack["drained"] and stack["stored_sample"]["stored"] == stack["stored_sample"]["sent"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
