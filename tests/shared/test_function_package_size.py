"""Every function's package stays under Lambda's 250 MB unzipped limit.

`sam build` installs `services/requirements.txt` into each function (one CodeUri), so
each package is the code plus every runtime requirement with its own dependencies. Their
installed sizes are read from the wheels' RECORD files of this environment (x86_64; the
arm64 wheels Lambda gets are of the same order)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
ALREADY_IN_THE_RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath"}
"""The python3.12 runtime ships these; sam build still copies them, so they are counted."""


def _closure(names: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for raw in metadata.requires(name) or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _installed_bytes(name: str) -> int:
    files = metadata.distribution(name).files or []
    return sum(f.size or 0 for f in files)


def test_each_function_package_is_under_the_lambda_limit() -> None:
    # Given the requirements sam build installs into every function
    pins = [
        line.split("==")[0]
        for line in (ROOT / "services" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # When their installed sizes (with dependencies) and the code are added up
    deps = _closure(pins)
    total = sum(_installed_bytes(n) for n in deps)
    code = sum(p.stat().st_size for p in (ROOT / "services").rglob("*") if p.is_file())
    # Then the package is under 250 MB, with room for the arm64 wheels' differences
    assert total + code < LAMBDA_UNZIPPED_LIMIT * 0.8, f"{(total + code) / 2**20:.0f} MiB"
    # And DuckDB, the largest, is in it (the analytics function needs it)
    assert "duckdb" in deps and _installed_bytes("duckdb") > 10 * 2**20
