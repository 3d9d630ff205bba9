"""Cold start: import time of every Lambda handler module in the SAM template, as a
ratio to a bare `import fastapi, mangum, boto3` measured in the same run.

Each measurement is a fresh interpreter (that is what a cold start is). Runs are
interleaved, baseline and handlers in turn, and the median is kept, so machine noise
hits both sides alike. Lower is better; 1.0 means "no heavier than the baseline".
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))

from ops.local.template import functions, load_template  # noqa: E402

BASELINE = "fastapi, mangum, boto3"
_PROBE = "import time, importlib; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


def import_seconds(statement: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(stmt=statement)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT / "services",
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(rounds: int = 7) -> dict[str, float]:
    modules = sorted(
        {spec.module for spec in functions(load_template(ROOT / "infra/template.yaml"))}
    )
    samples: dict[str, list[float]] = {BASELINE: [], **{m: [] for m in modules}}
    for _ in range(rounds):
        samples[BASELINE].append(import_seconds(f"import {BASELINE}"))
        for module in modules:
            samples[module].append(import_seconds(f"importlib.import_module({module!r})"))
    base = statistics.median(samples[BASELINE])
    ratios = {m: statistics.median(samples[m]) / base for m in modules}
    print(f"baseline `import {BASELINE}`: {base * 1000:.0f} ms (median of {rounds})")
    print(f"{'handler module':40} {'ms':>7} {'ratio':>7}")
    for module in modules:
        print(f"{module:40} {statistics.median(samples[module]) * 1000:7.0f} {ratios[module]:7.2f}")
    print(
        json.dumps({"benchmark": "cold_start_import_ratio", "baseline": BASELINE, "ratios": ratios})
    )
    return ratios


if __name__ == "__main__":
    main()
