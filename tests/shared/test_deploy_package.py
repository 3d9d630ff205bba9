"""`sam build` installs `services/requirements.txt` into each function: if it missed a
runtime dependency of pyproject.toml, the deployed Lambdas would fail at import although
every local test passes."""

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
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    return pins


def test_the_lambda_package_holds_every_runtime_dependency_at_the_tested_version() -> None:
    # Given the runtime dependencies of pyproject.toml and the versions the suite runs with
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = [Requirement(r) for r in project["project"]["dependencies"]]
    tested = _pins(ROOT / "constraints.txt")
    # When sam build reads the functions' requirements file
    deployed = _pins(ROOT / "services" / "requirements.txt")
    # Then each runtime dependency is there, pinned to the tested version it allows
    for requirement in runtime:
        name = canonicalize_name(requirement.name)
        assert name in deployed, f"services/requirements.txt misses {requirement.name}"
        assert deployed[name] == tested[name], f"{requirement.name}: not the tested version"
        assert requirement.specifier.contains(deployed[name]), f"{requirement.name} out of range"
    # And nothing beyond them (dev tools would only bloat the functions and their cold start)
    assert set(deployed) == {canonicalize_name(r.name) for r in runtime}
