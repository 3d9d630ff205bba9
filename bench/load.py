"""Load on the local stack: `kizuna local up` in its own process, driven over loopback.

Workers post orders, product views and cart updates (`POST /v1/events`) at a steady
concurrency for a bounded time; then the stack is drained and everything is reconciled:

- accepted: orders answered 201 (or 200 as a duplicate);
- stored: orders the segmenter holds (`GET /v1/customers/{id}/orders`);
- published: welcome deliveries the messenger recorded for first-time buyers (it only
  knows of an order through the `order.placed` event);
- delivered: welcome mails in the sandbox (moto SES), to those buyers.

Accepted must equal stored, and every buyer must have exactly one welcome delivery and
one mail. It prints throughput, latency percentiles, errors and the stack's peak memory
(VmHWM of its process). Not part of `make test`: the clock measures this machine, and a
busy one (CI, other processes) lowers every figure; the counts are what must hold.

    .venv/bin/python bench/load.py --seconds 120 --concurrency 4 --customers 300
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import drain, run_threads  # noqa: E402

from ops.local.process import LocalUpProcess, peak_rss_mib  # noqa: E402


def create_shop(stack: LocalUpProcess) -> str:
    done = stack.kizuna("shop", "create", "load", "--name", "Load")
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return done.stdout.strip().splitlines()[-1]


class Load:
    def __init__(self, api: str, token: str, customers: int, seed: int) -> None:
        self.api = api
        self.headers = {"Authorization": f"Bearer {token}"}
        self.customers = customers
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {"order": [], "view": [], "cart": []}
        self.statuses: Counter[str] = Counter()
        self.accepted: dict[str, str] = {}  # order id -> customer id
        self.sequence = 0

    def _next(self) -> tuple[str, dict[str, Any]]:
        with self.lock:
            self.sequence += 1
            n = self.sequence
            kind = self.rnd.choices(("order", "view", "cart"), (6, 3, 1))[0]
            customer = f"c-{self.rnd.randrange(self.customers)}"
        now = datetime.now(UTC).isoformat()
        person = {
            "customer_id": customer,
            "email": f"{customer}@example.jp",
            "consents": [{"channel": "email", "granted": True, "source": "checkout"}],
        }
        sku = f"SKU-{n % 40}"
        if kind == "order":
            body: dict[str, Any] = {
                "type": "order.placed",
                "event_id": f"o-{n}",
                "order_id": f"o-{n}",
                "placed_at": now,
                "currency": "JPY",
                "total": "3980",
                "items": [{"sku": sku, "quantity": 1, "unit_price": "3980", "category": "c"}],
                "customer": person,
            }
        elif kind == "view":
            body = {"type": "product.viewed", "event_id": f"v-{n}", "sku": sku}
            body |= {"viewed_at": now, "customer": {"customer_id": customer}}
        else:
            body = {"type": "cart.updated", "event_id": f"k-{n}", "updated_at": now}
            body |= {"customer": {"customer_id": customer}, "cart_id": f"cart-{customer}"}
            body |= {"items": [{"sku": sku, "quantity": 1, "unit_price": "3980"}]}
        return kind, body

    def worker(self, until: float) -> None:
        with httpx.Client(base_url=self.api, headers=self.headers, timeout=60) as http:
            while time.monotonic() < until:
                kind, body = self._next()
                started = time.perf_counter()
                try:
                    status = str(http.post("/v1/events", json=body).status_code)
                except httpx.HTTPError as err:
                    status = type(err).__name__
                elapsed = time.perf_counter() - started
                with self.lock:
                    self.latencies[kind].append(elapsed)
                    self.statuses[status] += 1
                    if kind == "order" and status in ("200", "201"):
                        self.accepted[body["order_id"]] = body["customer"]["customer_id"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return float(cuts[int(q) - 1]) * 1000


def reconcile(load: Load, sandbox: list[dict[str, Any]]) -> dict[str, int]:
    buyers = set(load.accepted.values())
    stored = 0
    welcome = 0
    with httpx.Client(base_url=load.api, headers=load.headers, timeout=60) as http:
        for customer in sorted(buyers):
            orders = http.get(f"/v1/customers/{customer}/orders").json()
            stored += sum(1 for o in orders if o["order_id"] in load.accepted)
            deliveries = http.get("/v1/deliveries", params={"customer_id": customer}).json()
            items = deliveries["items"] if isinstance(deliveries, dict) else deliveries
            welcome += sum(1 for d in items if d.get("trigger") == "welcome")
    mails = sum(1 for m in sandbox if m["channel"] == "mail" and m["to"].split("@")[0] in buyers)
    return {
        "accepted": len(load.accepted),
        "stored": stored,
        "buyers": len(buyers),
        "published (welcome deliveries)": welcome,
        "delivered (welcome mails)": mails,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kizuna-load-") as folder:
        state = Path(folder) / "state"
        state.mkdir()
        stack = LocalUpProcess(state, ROOT).start()
        api = stack.api
        try:
            load = Load(api, create_shop(stack), args.customers, args.seed)
            until = time.monotonic() + args.seconds
            elapsed = run_threads(args.concurrency, load.worker, until)
            drained, drain_seconds = drain(api, timeout=900)
            sandbox = httpx.get(f"{api}/_local/sandbox", timeout=120).json()
            counts = reconcile(load, sandbox)
            peak = peak_rss_mib(stack.pid)
        finally:
            stack.stop()

    requests = sum(len(v) for v in load.latencies.values())
    everything = [x for v in load.latencies.values() for x in v]
    print(f"load: {args.seconds:.0f} s, {args.concurrency} workers, {args.customers} customers")
    print(
        f"requests: {requests} ({requests / elapsed:.1f}/s), orders {len(load.latencies['order'])}"
        f" ({len(load.latencies['order']) / elapsed:.1f}/s)"
    )
    print(
        f"latency ms: p50 {percentile(everything, 50):.0f}  p95 {percentile(everything, 95):.0f}"
        f"  p99 {percentile(everything, 99):.0f}"
    )
    print(f"statuses: {dict(load.statuses)}")
    print(f"drained: {drained} in {drain_seconds:.1f} s after the load")
    for name, value in counts.items():
        print(f"{name}: {value}")
    holds = (
        counts["accepted"] == counts["stored"]
        and counts["buyers"] == counts["published (welcome deliveries)"]
        and counts["buyers"] == counts["delivered (welcome mails)"]
    )
    print(f"reconciles: {holds}")
    print(f"stack peak memory: {peak:.0f} MiB")
    print(
        "The clock leaves out: the stack's start and the shop's creation; the figures are "
        "this machine's, under whatever else it runs."
    )
    sys.exit(0 if holds and drained else 1)


if __name__ == "__main__":
    main()
