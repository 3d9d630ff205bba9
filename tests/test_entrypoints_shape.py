"""The entrypoints stay thin: a route or event handler parses, makes one call into a use
case, and shapes the answer; and it reaches storage only through the container.

Read from the source (AST), so a new route or handler is checked the day it is written."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[1] / "services"
ENTRYPOINTS = sorted(SERVICES.glob("*/entrypoints/*.py"))
MAX_LINES = 15


def _dispatched(tree: ast.Module) -> set[str]:
    """The functions a `dispatch(events={...}, schedules={...})` call routes to."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dispatch":
            for kw in node.keywords:
                if kw.arg in ("events", "schedules") and isinstance(kw.value, ast.Dict):
                    names |= {v.id for v in kw.value.values if isinstance(v, ast.Name)}
    return names


def _is_route(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        isinstance(d, ast.Call)
        and isinstance(d.func, ast.Attribute)
        and isinstance(d.func.value, ast.Name)
        and d.func.value.id in ("router", "app")
        for d in fn.decorator_list
    )


def _body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The lines of the body, its docstring left out (the signature declares parameters)."""
    body = fn.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        body = body[1:]
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def _handlers() -> dict[str, int]:
    """Every route and event handler of every service, with its body's length."""
    found: dict[str, int] = {}
    for path in ENTRYPOINTS:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        dispatched = _dispatched(tree)
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if _is_route(node) or node.name in dispatched:
                found[f"{path.relative_to(SERVICES)}:{node.name}"] = _body_lines(node)
    return found


def test_every_route_and_event_handler_is_at_most_15_lines() -> None:
    """Given every route and event handler in services/*/entrypoints
    When their bodies are measured (docstring left out)
    Then none is over 15 lines."""
    handlers = _handlers()
    assert len(handlers) > 50  # the walk found the routes (a broken walk finds none)
    long = {name: n for name, n in handlers.items() if n > MAX_LINES}
    assert long == {}


def test_entrypoints_import_no_adapter() -> None:
    """Given the entrypoints of every service
    When their imports are read
    Then none names an adapter module: storage is reached through the container's use
    cases, and the record types they shape come from the domain."""
    offenders = []
    for path in ENTRYPOINTS:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            offenders += [
                f"{path.relative_to(SERVICES)}:{node.lineno} {m}"
                for m in modules
                if ".adapters" in f".{m}"
            ]
    assert offenders == []


USE_CASES_WITHOUT_ADAPTERS = ("messenger", "feedback", "console", "segmenter")
"""The services whose use cases reach storage only through `services/ports.py`."""
COMPUTE_ENGINES = ("segmenter.adapters.duckdb_engine",)
"""Adapters a use case may still import: the segmenter's analytics pass and CLV fit run
in its DuckDB engine (not storage), imported inside the functions that run it."""


def _own_adapter_imports(service: str, root: Path = SERVICES) -> list[str]:
    """Every import, lazy ones too, of the service's own adapters from its use cases."""
    found = []
    for path in sorted((root / service / "services").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            found += [
                f"{path.relative_to(root)}:{node.lineno} {m}"
                for m in modules
                if (m == f"{service}.adapters" or m.startswith(f"{service}.adapters."))
                and m not in COMPUTE_ENGINES
            ]
    return found


def test_use_cases_import_no_adapter_of_their_service() -> None:
    """Given the use cases (services/) of the messenger, feedback, the console and the
    segmenter
    When their imports are read, lazy ones too
    Then none names the service's own adapter modules: they take the ports of
    `services/ports.py` (the ground floor's `shared.adapters` contracts are allowed)."""
    offenders = [o for s in USE_CASES_WITHOUT_ADAPTERS for o in _own_adapter_imports(s)]
    assert offenders == []


def test_the_use_case_check_sees_lazy_adapter_imports(tmp_path: Path) -> None:
    """Given a use case that imports its service's adapter inside a function
    When the check reads it
    Then it names the import (and not the ground floor's `shared.adapters`)."""
    (tmp_path / "messenger" / "services").mkdir(parents=True)
    (tmp_path / "messenger" / "services" / "probe.py").write_text(
        "from shared.adapters.dynamodb import Position\n"
        "def f():\n    from messenger.adapters.repository import DUE_PK\n",
        encoding="utf-8",
    )
    found = _own_adapter_imports("messenger", tmp_path)
    assert found == ["messenger/services/probe.py:3 messenger.adapters.repository"]
