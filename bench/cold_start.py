"""Cold start: every Lambda handler's import plus its first request, as a ratio to a bare
`import fastapi, mangum, boto3` measured in the same run.

A cold start is a fresh interpreter that imports the handler module and then serves one
request, which builds the service's container (its boto3 clients among it). So each
sample is a fresh interpreter that times both:

- an API handler serves one authenticated `GET` list request through Mangum, against the
  local stack's moto server (a real HTTP round trip to DynamoDB, as in the cloud);
- an event handler builds its container, as its first event would before any work (the
  clients that work then builds on first use are not counted: a lower bound).

The handlers run from the package the build makes (`make -C services code`: the five
service folders compiled to `unchecked-hash` bytecode); a Lambda's code folder is
read-only, so without it every cold start would compile the project from source.
`--code DIR` runs them from another code folder as it is instead (e.g. a checkout of an
older commit, without bytecode: what a cold start compiled before), to compare.
Runs are interleaved, baseline and handlers in turn, and the median is kept, so machine
noise hits both sides alike; the spread of each handler's samples is shown beside it, and
the same ratio in CPU time (the process's own, which other load on the machine moves less
than wall time; the DynamoDB server's work is not in it). Lower is better; 1.0 means "no
heavier than the baseline". The target is every API handler at 1.2 or less, import and
first request together.

`--instructions` counts instead of timing: each probe runs once under valgrind's
callgrind, and the ratio is the instructions the process executed, less those of a bare
interpreter's start, to the baseline's (the same subtraction). A count does not move with
the machine's load, which on a shared machine swamps wall and even CPU time; it weighs
every instruction alike (no cache or I/O effects), so it ranks changes, the timed ratios
say what a Lambda feels.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "services"
sys.path.insert(0, str(SERVICES))

from ops.local.template import functions, load_template  # noqa: E402

BASELINE = "fastapi, mangum, boto3"
TARGET = 1.2
FIRST_REQUEST = {
    "segmenter.entrypoints.api": "/v1/segments",
    "messenger.entrypoints.api": "/v1/messages",
    "feedback.entrypoints.api": "/v1/surveys",
    "console.entrypoints.api": "/console/session",
}
"""The first request each API handler serves: a list that reads DynamoDB behind the key."""

_BASELINE_PROBE = """
import json, time
t, cpu = time.perf_counter(), time.process_time()
import fastapi, mangum, boto3
print(json.dumps([time.perf_counter() - t, 0.0, time.process_time() - cpu, 0.0]))
"""

_HANDLER_PROBE = """
import importlib, json, sys, time
module_name, path, token = sys.argv[1:4]
t, cpu = time.perf_counter(), time.process_time()
module = importlib.import_module(module_name)
imported, cpu_imported = time.perf_counter(), time.process_time()
if path:
    event = {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"authorization": "Bearer " + token, "host": "bench.local"},
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": "bench", "stage": "$default", "routeKey": "$default",
        },
        "isBase64Encoded": False,
    }
    response = module.handler(event, None)
    assert response["statusCode"] == 200, response
else:
    module.container()
print(json.dumps([
    imported - t, time.perf_counter() - imported,
    cpu_imported - cpu, time.process_time() - cpu_imported,
]))
"""


Sample = tuple[float, float, float, float]
"""(import, first request) in wall seconds, then the same in the process's CPU seconds."""


def sample(probe: str, code: Path, env: dict[str, str], *args: str) -> Sample:
    """One cold start in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=code,
        env=env,
    )
    wall_import, wall_first, cpu_import, cpu_first = json.loads(out.stdout.splitlines()[-1])
    return float(wall_import), float(wall_first), float(cpu_import), float(cpu_first)


CALLGRIND = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]


def instructions(probe: str, code: Path, env: dict[str, str], *args: str) -> int:
    """The instructions one fresh interpreter executes running `probe` (callgrind)."""
    out = subprocess.run(
        [*CALLGRIND, sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=code,
        env=env,
    )
    found = re.search(r"Collected : (\d+)", out.stderr)
    assert found, out.stderr[-2000:]
    return int(found.group(1))


def count(code: Path, env: dict[str, str], modules: list[str], token: str) -> None:
    """Each handler's import and first request in instructions, as a ratio to the
    baseline's import (a bare interpreter's start taken from both)."""
    bare = instructions("pass", code, env)
    base = instructions(_BASELINE_PROBE, code, env) - bare
    print(f"baseline `import {BASELINE}`: {base / 1e6:.0f} M instructions (callgrind)")
    ratios: dict[str, float] = {}
    for module in modules:
        path = FIRST_REQUEST.get(module, "")
        ran = instructions(_HANDLER_PROBE, code, env, module, path, token) - bare
        ratios[module] = ran / base
        print(f"{module:30} {ran / 1e6:6.0f} M {ratios[module]:5.2f}x", flush=True)
    api = {m: r for m, r in ratios.items() if m in FIRST_REQUEST}
    print(f"API handlers, import and first request together: target <= {TARGET}x,", end=" ")
    print("met" if max(api.values()) <= TARGET else "NOT met")
    report = {"benchmark": "cold_start_instructions", "baseline": BASELINE, "ratios": ratios}
    print(json.dumps(report))


def _shop_token() -> str:
    from shared import aws
    from shared.auth.service import create_shop
    from shared.auth.store import DynamoKeyStore
    from shared.settings import get_settings

    settings = get_settings()
    store = DynamoKeyStore(
        aws.client(aws.session(settings.aws_region), "dynamodb"), settings.platform_table
    )
    return create_shop(store, "bench-shop", "Bench Shop").token


def package(into: Path) -> Path:
    """The code folder `sam build` ships, made by the Makefile's own step."""
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(SERVICES), "code", f"ARTIFACTS_DIR={into}"],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    return into


def measure(
    rounds: int, code_dir: Path | None = None, count_instructions: bool = False
) -> dict[str, dict[str, float]]:
    from ops.local.stack import LocalStack, find_template

    modules = sorted({spec.module for spec in functions(load_template(find_template()))})
    os.environ.setdefault("KIZUNA_LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory(prefix="kizuna-bench-") as state:
        code = code_dir or package(Path(state) / "package")
        stack = LocalStack(find_template(), state_dir=Path(state) / "stack", auto_schedule=False)
        stack.start()
        try:
            token = _shop_token()
            env = {**os.environ, **stack.environment, "PYTHONDONTWRITEBYTECODE": "1"}
            if count_instructions:
                count(code, env, modules, token)
                return {}
            samples: dict[str, list[Sample]] = {m: [] for m in [BASELINE, *modules]}
            for _ in range(rounds):
                samples[BASELINE].append(sample(_BASELINE_PROBE, code, env))
                for module in modules:
                    path = FIRST_REQUEST.get(module, "")
                    samples[module].append(sample(_HANDLER_PROBE, code, env, module, path, token))
        finally:
            stack.stop()
    base = statistics.median(s[0] for s in samples[BASELINE])
    cpu_base = statistics.median(s[2] for s in samples[BASELINE])
    report: dict[str, dict[str, float]] = {}
    for module in modules:
        imported = statistics.median(s[0] for s in samples[module])
        first = statistics.median(s[1] for s in samples[module])
        totals = sorted((s[0] + s[1]) / base for s in samples[module])
        cpu_total = statistics.median(s[2] + s[3] for s in samples[module])
        report[module] = {
            "import_ms": imported * 1000,
            "first_request_ms": first * 1000,
            "import_ratio": imported / base,
            "first_request_ratio": first / base,
            "ratio": statistics.median(totals),
            "ratio_min": totals[0],
            "ratio_max": totals[-1],
            "cpu_ratio": cpu_total / cpu_base,
        }
    where = f"{code_dir}, as it is" if code_dir else "the built package"
    print(f"baseline `import {BASELINE}`: {base * 1000:.0f} ms (median of {rounds});", end=" ")
    print(f"handlers from {where}")
    print(f"{'handler module':30} {'import':>12} {'1st request':>14} {'together':>9}", end=" ")
    print(f"{'(spread)':>13} {'CPU':>6}")
    for module, row in report.items():
        print(
            f"{module:30} {row['import_ms']:5.0f} ms {row['import_ratio']:4.2f}x"
            f" {row['first_request_ms']:6.0f} ms {row['first_request_ratio']:4.2f}x"
            f" {row['ratio']:8.2f}x ({row['ratio_min']:.2f}-{row['ratio_max']:.2f})"
            f" {row['cpu_ratio']:5.2f}x"
        )
    api = {m: r["ratio"] for m, r in report.items() if m in FIRST_REQUEST}
    print(f"API handlers, import and first request together: target <= {TARGET}x,", end=" ")
    print("met" if max(api.values()) <= TARGET else "NOT met")
    print(json.dumps({"benchmark": "cold_start_ratio", "baseline": BASELINE, "ratios": report}))
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--code", type=Path, help="run the handlers from this folder as it is")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions (valgrind) instead"
    )
    args = parser.parse_args()
    measure(args.rounds, args.code.resolve() if args.code else None, args.instructions)
