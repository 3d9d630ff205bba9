"""`services/shared` is the ground floor: every service stands on it, it stands on none.

A module of `shared` that imported a service (or the operator tooling in `ops`) would
pull that floor into every Lambda and tie the contracts to one service's insides. The check
reads every import statement, including the lazy ones inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
ABOVE_THE_GROUND_FLOOR = {"segmenter", "messenger", "feedback", "console", "ops"}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_shared_imports_no_service_package() -> None:
    """Given every module under services/shared
    When its import statements are read
    Then none names a service package or the operator tooling."""
    modules = sorted((SERVICES / "shared").rglob("*.py"))
    assert len(modules) > 20
    offenders = {
        str(path.relative_to(SERVICES)): sorted(_imported_packages(path) & ABOVE_THE_GROUND_FLOOR)
        for path in modules
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_sees_lazy_imports(tmp_path: Path) -> None:
    """Given a module whose service imports hide inside a function
    When the check reads it
    Then it names the services (the old `shared/cli.py` imported segmenter this way)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def f():\n    from segmenter.bootstrap import build\n    import feedback.api\n",
        encoding="utf-8",
    )
    assert _imported_packages(probe) == {"segmenter", "feedback"}
