"""The analytics function runs pyarrow on the system allocator: its default pool
(mimalloc) spent 1.5-2.2 s of system time for 3.2 s of user time turning 10M orders into Arrow
(bench/analytics_reports.py). The template says so with Arrow's own environment variable;
a misspelt name or value would silently leave the default pool in place."""

from __future__ import annotations

import os
import subprocess
import sys

from ops.local.template import load_template
from tests.conftest import TEMPLATE


def test_the_analytics_function_allocates_arrow_memory_from_the_system_pool() -> None:
    # Given the analytics function's environment in the template (its own variables)
    resource = load_template(TEMPLATE)["Resources"]["AnalyticsFunction"]
    variables = resource["Properties"]["Environment"]["Variables"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARROW_")}
    env |= {k: str(v) for k, v in variables.items() if k.startswith("ARROW_")}
    # When a fresh Python process allocates its first Arrow array under it
    probe = (
        "import pyarrow as pa; pa.array([1, 2, 3]); print(pa.default_memory_pool().backend_name)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    # Then pyarrow took the system allocator, and said nothing about an unknown pool
    assert out.stdout.strip() == "system"
    assert out.stderr == ""


def test_without_the_setting_pyarrow_would_use_another_pool() -> None:
    # Given no Arrow setting at all (what the first test's setting changes)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARROW_")}
    # When a fresh process asks for the default pool
    probe = "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    # Then it is not the system allocator: the template's line is what makes the difference
    assert out.stdout.strip() in {"jemalloc", "mimalloc"}
