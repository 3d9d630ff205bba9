"""Import throughput: rows/s and peak memory of importing a large synthetic Shopify
orders export, as a ratio to a naive `list(csv.DictReader(f))` of the same file, measured
in the same run.

(a) streaming: decode + parse + validate + group + `record_order` (historical) into an
    in-memory fake repository that keeps only identity claims and profile versions for
    a bounded pool of customers (`--customers`), so whatever grows with the file would
    be the pipeline's. It runs on the full file and on a tenth of it: flat memory means
    about the same peak for both.
(b) baseline: `list(csv.DictReader(f))`, which only splits the file and keeps it.
(c) optional (`--moto-rows`, default 400): the real DynamoDB repository on in-process
    moto (with `ops.local.moto_dynamodb`, which keeps moto from copying the table per
    transaction), with a client that skips botocore's validation as the stack's do, then
    through `MotoDynamoDB` as the stack's import (its CPU time as a ratio to the first).
    The number shows moto's cost, not DynamoDB's.
(d) optional (`--stack-rows`, default 2,000): end to end, `kizuna import orders --local`
    into `kizuna local up`, each in its own process, with both processes' peak memory,
    and as a ratio to the same file imported over HTTP from the CLI's process.

Each of (a) and (b) runs in a fresh interpreter, so peak RSS (getrusage maxrss, minus the
interpreter's RSS after imports) is theirs alone. Lower memory ratio is better; the time
ratio says how much dearer full validation and ingest are than bare CSV splitting.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))
sys.path.insert(0, str(ROOT))

from bench.harness import create_tables  # noqa: E402

from segmenter.domain.errors import DuplicateEvent  # noqa: E402
from segmenter.domain.identity import Identifier  # noqa: E402
from segmenter.domain.model import Order, Profile  # noqa: E402
from segmenter.domain.records import ChangeSet  # noqa: E402
from segmenter.services.ports import ProfileRepository  # noqa: E402
from shared.adapters.eventbridge import EventPublisher  # noqa: E402
from shared.contracts.envelope import EventEnvelope  # noqa: E402

SHOP = "bench"
# Shopify's "Plain CSV" orders export header, in its order.
SHOPIFY_HEADER = (  # noqa: SIM905
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,"
    "Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,"
    "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,"
    "Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,"
    "Billing Name,Billing Street,Billing Address1,Billing Address2,Billing Company,"
    "Billing City,Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,"
    "Shipping Street,Shipping Address1,Shipping Address2,Shipping Company,Shipping City,"
    "Shipping Zip,Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,"
    "Cancelled at,Payment Method,Payment Reference,Refunded Amount,Vendor,"
    "Outstanding Balance,Employee,Location,Device ID,Id,Tags,Risk Level,Source,"
    "Lineitem discount,Tax 1 Name,Tax 1 Value,Tax 2 Name,Tax 2 Value,Tax 3 Name,"
    "Tax 3 Value,Tax 4 Name,Tax 4 Value,Tax 5 Name,Tax 5 Value,Phone,Receipt Number,Duties,"
    "Billing Province Name,Shipping Province Name,Payment ID,Payment Terms Name,"
    "Next Payment Due At,Payment References"
).split(",")
PRODUCTS = [(f"SKU-{i:04d}", f"Product {i}", 500 + (i * 370) % 9500) for i in range(400)]


# --------------------------------------------------------------------------- the file


def synthetic_rows(rows: int, customers: int, seed: int = 7) -> Iterator[list[str]]:
    """Shopify-shaped rows: 1-4 line items per order, order fields on the first row."""
    rnd = random.Random(seed)
    width = len(SHOPIFY_HEADER)
    col = {name: i for i, name in enumerate(SHOPIFY_HEADER)}
    written = 0
    number = 1000
    while written < rows:
        number += 1
        lines = min(rnd.choice((1, 1, 1, 2, 2, 3, 4)), rows - written)
        picked = [rnd.choice(PRODUCTS) for _ in range(lines)]
        total = sum(price for _, _, price in picked)
        customer = rnd.randrange(customers)
        created = f"2024-{1 + number % 12:02d}-{1 + number % 28:02d} {number % 24:02d}:15:00 +0900"
        for k, (sku, name, price) in enumerate(picked):
            row = [""] * width
            row[col["Name"]] = f"#{number}"
            row[col["Email"]] = f"customer{customer}@example.jp"
            row[col["Lineitem quantity"]] = "1"
            row[col["Lineitem name"]] = name
            row[col["Lineitem price"]] = f"{price}.00"
            row[col["Lineitem compare at price"]] = f"{price + 500}.00" if k % 3 == 0 else ""
            row[col["Lineitem sku"]] = sku
            row[col["Lineitem requires shipping"]] = "true"
            row[col["Lineitem taxable"]] = "true"
            row[col["Lineitem fulfillment status"]] = "fulfilled"
            row[col["Vendor"]] = "Kizuna Cosmetics"
            row[col["Lineitem discount"]] = "0.00"
            if k == 0:
                for name_, value in (
                    ("Financial Status", "paid"),
                    ("Paid at", created),
                    ("Fulfillment Status", "fulfilled"),
                    ("Accepts Marketing", "yes" if customer % 3 else "no"),
                    ("Currency", "JPY"),
                    ("Subtotal", f"{total}.00"),
                    ("Shipping", "0.00"),
                    ("Taxes", f"{total // 11}.00"),
                    ("Total", f"{total}.00"),
                    ("Discount Amount", "0.00"),
                    ("Shipping Method", "ヤマト運輸"),
                    ("Created at", created),
                    ("Billing Name", f"Hanako{customer} Yamada"),
                    ("Billing Address1", "1-1-1 Chiyoda"),
                    ("Billing City", "Chiyoda-ku"),
                    ("Billing Zip", "'1000001"),
                    ("Billing Province", "13"),
                    ("Billing Country", "JP"),
                    ("Billing Phone", f"090{10_000_000 + customer:08d}"),
                    ("Payment Method", "Shopify Payments"),
                    ("Id", str(5_000_000_000_000 + number)),
                    ("Risk Level", "Low"),
                    ("Source", "web"),
                    ("Tax 1 Name", "消費税 10%"),
                    ("Tax 1 Value", f"{total // 11}"),
                ):
                    row[col[name_]] = value
            yield row
            written += 1


def write_file(path: Path, rows: int, customers: int) -> int:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(SHOPIFY_HEADER)
        writer.writerows(synthetic_rows(rows, customers))
    return path.stat().st_size


# --------------------------------------------------------------------------- fakes


class CountingRepository(ProfileRepository):
    """Keeps identity claims and profile versions (bounded by the customer pool) and
    counts orders; it does not keep profile contents, which grow with each customer's
    history (SKUs bought, activities) and would hide the pipeline's own memory. Each
    order therefore folds into a fresh profile: the rate is the import pipeline's
    (decode, parse, validate, group, resolve, fold, change set), not a profile store's."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.owners: dict[Identifier, str] = {}
        self.orders = 0

    def _profile(self, shop_id: str, customer_id: str | None) -> Profile | None:
        if customer_id is None or customer_id not in self.versions:
            return None
        return Profile(shop_id, customer_id, version=self.versions[customer_id])

    def load(
        self, shop_id: str, identifiers: Sequence[Identifier], likely_customer: str | None
    ) -> tuple[dict[Identifier, str], Profile | None]:
        owners = {i: self.owners[i] for i in identifiers if i in self.owners}
        return owners, self._profile(shop_id, likely_customer)

    def get_profile(self, shop_id: str, customer_id: str) -> Profile | None:
        return self._profile(shop_id, customer_id)

    def commit(self, change: ChangeSet) -> None:
        for profile, read_version in change.profiles:
            self.versions[profile.customer_id] = read_version + 1
        for identifier, owner, _ in change.claims:
            self.owners[identifier] = owner
        self.orders += len(change.new_orders)

    def get_order(self, shop_id: str, order_id: str) -> Order | None:
        return None

    def list_orders(self, shop_id: str, customer_id: str) -> list[Order]:
        return []


class NullPublisher(EventPublisher):
    def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        if envelopes:
            raise AssertionError("a historical import must publish nothing")


_ = DuplicateEvent  # the fake never sees a duplicate: each order is new in this run


# --------------------------------------------------------------------------- the runs


def _maxrss_bytes() -> int:
    # Linux reports kilobytes (macOS bytes); the benchmark targets Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_streaming(path: Path) -> dict[str, Any]:
    from segmenter.domain.order_import import decode_lines
    from segmenter.importer import import_orders

    repo = CountingRepository()
    start_rss = _maxrss_bytes()
    started = time.perf_counter()
    with path.open("rb") as raw:
        summary = import_orders(decode_lines(raw), "shopify", SHOP, repo, NullPublisher())
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": summary.rows_read,
        "orders": summary.orders_imported,
        "rejected": summary.orders_rejected,
        "profiles": len(repo.versions),
        "peak_rss_increase": _maxrss_bytes() - start_rss,
    }


def run_baseline(path: Path) -> dict[str, Any]:
    start_rss = _maxrss_bytes()
    started = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": len(rows),
        "peak_rss_increase": _maxrss_bytes() - start_rss,
    }


def run_moto(rows: int, direct: bool = False) -> dict[str, Any]:
    """The real repository on in-process moto (tables from the SAM template); `direct`:
    through `MotoDynamoDB`, as the local stack's import writes (no botocore shape walks)."""
    import os

    import boto3
    from botocore.config import Config
    from moto import mock_aws

    from ops.local import moto_dynamodb
    from ops.local.moto_client import MotoDynamoDB
    from segmenter.adapters.repository import DynamoProfileRepository
    from segmenter.domain.order_import import decode_lines
    from segmenter.importer import import_orders

    moto_dynamodb.install()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="ap-northeast-1",
    )
    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        path = Path(tmp) / "orders_export.csv"
        write_file(path, rows, customers=max(rows // 4, 1))
        # As the stack's own clients: no client-side validation (moto checks what it serves).
        config = Config(parameter_validation=False)
        ddb = boto3.client("dynamodb", region_name="ap-northeast-1", config=config)
        table = create_tables(ddb)["SegmenterTable"]
        client: Any = MotoDynamoDB(ddb) if direct else ddb
        repo = DynamoProfileRepository(client, table)
        started, cpu_started = time.perf_counter(), time.process_time()
        with path.open("rb") as raw:
            summary = import_orders(decode_lines(raw), "shopify", SHOP, repo, NullPublisher())
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
    if summary.orders_rejected:
        raise SystemExit(f"the synthetic file did not import cleanly: {summary}")
    return {
        "rows": summary.rows_read,
        "orders": summary.orders_imported,
        "seconds": seconds,
        "rows_per_s": summary.rows_read / seconds,
        "orders_per_s": summary.orders_imported / seconds,
        "cpu_seconds": cpu_seconds,
        "rows_per_cpu_s": summary.rows_read / cpu_seconds,
    }


def _child(kind: str, path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--file", str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _timed_import(
    path: Path, shop: str, args: Sequence[str], env: dict[str, str]
) -> dict[str, Any]:
    """One `kizuna import orders` process: seconds, exit code and its peak memory."""
    from ops.local.process import kizuna_command, peak_rss_mib

    started = time.perf_counter()
    importer = subprocess.Popen(
        [kizuna_command(), "import", "orders", str(path), "--shop", shop, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = 0.0
    while importer.poll() is None:
        peak = max(peak, peak_rss_mib(importer.pid))
        time.sleep(0.2)
    return {
        "seconds": time.perf_counter() - started,
        "returncode": importer.returncode,
        "peak_rss_mib": peak,
    }


def run_local_stack(rows: int, customers: int, over_http: bool = True) -> dict[str, Any]:
    """`kizuna import orders --local` into `kizuna local up`, each in its own process: rows/s
    of the whole import and the peak memory (VmHWM) of both processes.

    With `over_http`, the same file is first imported (into another shop of the same stack)
    the way `--local` worked before: the importer in the CLI's process, each DynamoDB
    request over HTTP to the stack's moto server (the stack's environment, no `--local`).
    The ratio of the two is the part that does not depend on the machine's load."""
    from ops.local.process import LocalUpProcess, clean_environment, peak_rss_mib

    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        path = Path(tmp) / "orders_export.csv"
        write_file(path, rows, customers)
        with LocalUpProcess(state, ROOT) as stack:
            stack.kizuna("shop", "create", "bench", "--name", "Bench")
            http: dict[str, Any] | None = None
            if over_http:
                stack.kizuna("shop", "create", "bench-http", "--name", "Bench over HTTP")
                endpoints = json.loads((state / "endpoints.json").read_text())
                env = {**clean_environment(), **endpoints["environment"]}
                http = _timed_import(path, "bench-http", (), env)
                http["rows_per_s"] = rows / http["seconds"]
            local = _timed_import(
                path, "bench", ("--local", "--state-dir", str(state)), clean_environment()
            )
            stack_peak = peak_rss_mib(stack.pid)
    return {
        "rows": rows,
        "seconds": local["seconds"],
        "rows_per_s": rows / local["seconds"],
        "importer_returncode": local["returncode"],
        "importer_peak_rss_mib": local["peak_rss_mib"],
        "stack_peak_rss_mib": stack_peak,
        "over_http": http,
        "speedup_vs_over_http": http["seconds"] / local["seconds"] if http else None,
    }


def main(rows: int, customers: int, moto_rows: int, stack_rows: int = 0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders_export.csv"
        size = write_file(path, rows, customers)
        print(
            f"synthetic Shopify export: {rows:,} rows, {size / 1e6:.0f} MB, {customers:,} customers"
        )
        streaming = _child("streaming", path)
        baseline = _child("baseline", path)
        tenth = Path(tmp) / "tenth.csv"
        write_file(tenth, rows // 10, customers)
        small = _child("streaming", tenth)
    if streaming["rejected"] or streaming["rows"] != rows:
        raise SystemExit(f"the synthetic file did not import cleanly: {streaming}")
    moto = run_moto(moto_rows) if moto_rows else None
    direct = run_moto(moto_rows, direct=True) if moto_rows else None
    stack = run_local_stack(stack_rows, min(customers, stack_rows)) if stack_rows else None
    result: dict[str, Any] = {
        "benchmark": "import_throughput",
        "baseline": "list(csv.DictReader(f))",
        "rows": rows,
        "file_bytes": size,
        "streaming_rows_per_s": streaming["rows"] / streaming["seconds"],
        "streaming_orders_per_s": streaming["orders"] / streaming["seconds"],
        "streaming_peak_rss_mb": streaming["peak_rss_increase"] / 1e6,
        "streaming_tenth_file_peak_rss_mb": small["peak_rss_increase"] / 1e6,
        "baseline_rows_per_s": baseline["rows"] / baseline["seconds"],
        "baseline_peak_rss_mb": baseline["peak_rss_increase"] / 1e6,
        "memory_ratio": streaming["peak_rss_increase"] / max(baseline["peak_rss_increase"], 1),
        "time_ratio": streaming["seconds"] / baseline["seconds"],
        "streaming": streaming,
        "moto": moto,
        "moto_direct": direct,
        "local_stack": stack,
    }
    print(
        f"streaming import: {result['streaming_rows_per_s']:,.0f} rows/s, "
        f"peak +{result['streaming_peak_rss_mb']:.1f} MB RSS "
        f"(+{result['streaming_tenth_file_peak_rss_mb']:.1f} MB for a tenth of the file)"
    )
    print(
        f"baseline list(csv.DictReader): {result['baseline_rows_per_s']:,.0f} rows/s, "
        f"peak +{result['baseline_peak_rss_mb']:.1f} MB RSS"
    )
    print(f"memory ratio {result['memory_ratio']:.4f}, time ratio {result['time_ratio']:.1f}")
    if moto and direct:
        print(
            f"moto through MotoDynamoDB (as the stack's import): {direct['rows_per_s']:,.0f} "
            f"rows/s ({direct['rows_per_cpu_s']:,.0f} rows per CPU second); CPU time "
            f"{direct['cpu_seconds'] / moto['cpu_seconds']:.2f} of the botocore client's"
        )
    if moto:
        print(
            f"moto DynamoDB: {moto['rows_per_s']:,.0f} rows/s, {moto['orders_per_s']:,.0f} "
            f"orders/s ({moto['rows_per_cpu_s']:,.0f} rows per CPU second)"
        )
    if stack:
        print(
            f"into the local stack (kizuna import orders --local): {stack['rows_per_s']:,.0f} "
            f"rows/s; peak memory: importer {stack['importer_peak_rss_mib']:.0f} MiB, "
            f"stack {stack['stack_peak_rss_mib']:.0f} MiB"
        )
        if stack["over_http"]:
            print(
                f"  the same file over HTTP from the CLI's process (the old --local): "
                f"{stack['over_http']['rows_per_s']:,.0f} rows/s; "
                f"--local is {stack['speedup_vs_over_http']:.1f}x faster"
            )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--moto-rows", type=int, default=400)
    parser.add_argument(
        "--stack-rows", type=int, default=2000, help="rows imported into `kizuna local up`"
    )
    parser.add_argument("--child", choices=("streaming", "baseline"))
    parser.add_argument("--file", type=Path)
    args = parser.parse_args()
    if args.child:
        run = run_streaming if args.child == "streaming" else run_baseline
        print(json.dumps(run(args.file)))
    else:
        main(args.rows, args.customers, args.moto_rows, args.stack_rows)
