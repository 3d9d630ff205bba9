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
noise hits both sides alike. Lower is better; 1.0 means "no heavier than the baseline".
The target is every API handler at 1.2 or less, import and first request together.
"""

from __future__ import annotations

import argparse
import json
import os
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
t = time.perf_counter()
import fastapi, mangum, boto3
print(json.dumps([time.perf_counter() - t, 0.0]))
"""

_HANDLER_PROBE = """
import importlib, json, sys, time
module_name, path, token = sys.argv[1:4]
t = time.perf_counter()
module = importlib.import_module(module_name)
imported = time.perf_counter()
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
print(json.dumps([imported - t, time.perf_counter() - imported]))
"""


def sample(probe: str, code: Path, env: dict[str, str], *args: str) -> tuple[float, float]:
    """One cold start in a fresh interpreter: (import seconds, first request seconds)."""
    out = subprocess.run(
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=code,
        env=env,
    )
    first, second = json.loads(out.stdout.strip().splitlines()[-1])
    return float(first), float(second)


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


def measure(rounds: int, code_dir: Path | None = None) -> dict[str, dict[str, float]]:
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
            samples: dict[str, list[tuple[float, float]]] = {m: [] for m in [BASELINE, *modules]}
            for _ in range(rounds):
                samples[BASELINE].append(sample(_BASELINE_PROBE, code, env))
                for module in modules:
                    path = FIRST_REQUEST.get(module, "")
                    samples[module].append(sample(_HANDLER_PROBE, code, env, module, path, token))
        finally:
            stack.stop()
    base = statistics.median(s[0] for s in samples[BASELINE])
    report: dict[str, dict[str, float]] = {}
    for module in modules:
        imported = statistics.median(s[0] for s in samples[module])
        first = statistics.median(s[1] for s in samples[module])
        total = statistics.median(s[0] + s[1] for s in samples[module])
        report[module] = {
            "import_ms": imported * 1000,
            "first_request_ms": first * 1000,
            "import_ratio": imported / base,
            "first_request_ratio": first / base,
            "ratio": total / base,
        }
    where = f"{code_dir}, as it is" if code_dir else "the built package"
    print(f"baseline `import {BASELINE}`: {base * 1000:.0f} ms (median of {rounds});", end=" ")
    print(f"handlers from {where}")
    print(f"{'handler module':30} {'import':>12} {'1st request':>14} {'together':>9}")
    for module, row in report.items():
        print(
            f"{module:30} {row['import_ms']:5.0f} ms {row['import_ratio']:4.2f}x"
            f" {row['first_request_ms']:6.0f} ms {row['first_request_ratio']:4.2f}x"
            f" {row['ratio']:8.2f}x"
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
    args = parser.parse_args()
    measure(args.rounds, args.code.resolve() if args.code else None)
