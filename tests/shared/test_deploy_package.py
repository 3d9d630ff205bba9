"""`sam build` installs `services/requirements.txt` into each zip function and
`services/requirements-analytics.txt` (which includes it) into the analytics image: if they
missed a runtime dependency of pyproject.toml, the deployed Lambdas would fail at import
although every local test passes."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r"):
            continue  # an include; the test reads each file on its own
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    return pins


def test_the_lambda_packages_hold_every_runtime_dependency_at_the_tested_version() -> None:
    # Given the runtime dependencies of pyproject.toml and the versions the suite runs with
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = [Requirement(r) for r in project["project"]["dependencies"]]
    tested = _pins(ROOT / "constraints.txt")
    # When sam build reads the zip functions' and the analytics image's requirements files
    base = _pins(ROOT / "services" / "requirements.txt")
    analytics_path = ROOT / "services" / "requirements-analytics.txt"
    analytics = _pins(analytics_path)
    # Then the image's file includes the base one
    lines = [ln.strip() for ln in analytics_path.read_text(encoding="utf-8").splitlines()]
    assert "-r requirements.txt" in lines
    # And each runtime dependency is in exactly one of them, at the tested version it allows
    for requirement in runtime:
        name = canonicalize_name(requirement.name)
        where = [
            f for f, pins in (("requirements.txt", base), ("-analytics", analytics)) if name in pins
        ]
        assert len(where) == 1, f"{requirement.name} is in {where or 'neither file'}"
        pinned = base.get(name) or analytics[name]
        assert pinned == tested[name], f"{requirement.name}: not the tested version"
        assert requirement.specifier.contains(pinned), f"{requirement.name} out of range"
    # And nothing beyond them (dev tools would only bloat the functions and their cold start)
    assert set(base) | set(analytics) == {canonicalize_name(r.name) for r in runtime}
    # And the heavy ones are in the image only
    assert {"duckdb", "pyarrow", "scipy", "threadpoolctl"} <= set(analytics)
