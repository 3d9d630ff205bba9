"""What several benches do alike, written once: the template's DynamoDB tables on moto,
worker threads run to their end, and the local stack drained of its queued work."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))


def create_tables(ddb: Any) -> dict[str, str]:
    """Every table of infra/template.yaml, created through `ddb` (inside `mock_aws`): the
    table names by logical id (`SegmenterTable`, ...)."""
    from ops.local.template import load_template, tables

    names = {}
    for spec in tables(load_template(ROOT / "infra" / "template.yaml")):
        ddb.create_table(**spec.create_table_args())
        names[spec.logical_id] = spec.name
    return names


@contextmanager
def line_sandbox() -> Iterator[Path]:
    """The sandbox LINE channel's file (`KIZUNA_LINE_SANDBOX_FILE`) in a temporary
    directory for the run: removed after it, the variable as it was before."""
    name = "KIZUNA_LINE_SANDBOX_FILE"
    before = os.environ.get(name)
    with tempfile.TemporaryDirectory(prefix="kizuna-bench-line-") as folder:
        os.environ[name] = str(Path(folder) / "line.jsonl")
        try:
            yield Path(os.environ[name])
        finally:
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before


def run_threads(count: int, target: Callable[..., object], *args: Any) -> float:
    """`count` threads each running `target(*args)`, started together: seconds until the
    last one ends."""
    threads = [threading.Thread(target=target, args=args) for _ in range(count)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def drain(api: str, timeout: float) -> tuple[bool, float]:
    """Ask the local stack to finish its queued work: (whether it did, seconds it took)."""
    import httpx

    started = time.perf_counter()
    drained = httpx.post(f"{api}/_local/drain", timeout=timeout).status_code == 200
    return drained, time.perf_counter() - started
