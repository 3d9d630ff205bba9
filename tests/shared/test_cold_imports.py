"""What a cold start imports: each function's handler loads only what its own work needs.

A Lambda pays for every module its handler imports, on every cold start. The journey
engine, the analytics stack (numpy, scipy, DuckDB, pandas, pyarrow), boto3 and
`pydantic.v1` are imported only by the code that uses them, pydantic-settings not at all
(`shared.settings` reads the environment itself), and FastAPI's per-route TypeAdapters
are built on first use (`shared/http/lazy.py`); these checks keep them out of a handler's
import (and of the messenger's first request) so the cold start measured by
`bench/cold_start.py` cannot quietly grow back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.local.template import functions, load_template
from tests.shared.fresh import run_fresh

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted({f.module for f in functions(load_template(ROOT / "infra" / "template.yaml"))})

JOURNEY_ENGINE = (
    "messenger.services.journeys.definitions",
    "messenger.services.journeys.dispatch",
    "messenger.services.journeys.intake",
    "messenger.services.journeys.runner",
    "messenger.domain.journeys.definition",
    "messenger.domain.journeys.validation",
)
NEVER_AT_IMPORT = (
    *JOURNEY_ENGINE,
    "boto3",
    "pydantic.v1",
    "pydantic_settings",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "duckdb",
    "ops",
)
MESSENGER_UNTIL_REACHED = (
    "messenger.adapters",
    "messenger.channels.email",
    "messenger.channels.line",
    "messenger.channels.sms",
    "messenger.services.campaigns",
    "messenger.services.pipeline",
    "messenger.services.webhooks",
)
"""What the messenger imports only when a request or event first reaches it."""
SEGMENTER_UNTIL_REACHED = (
    "segmenter.entrypoints.analytics_routes",
    "segmenter.entrypoints.customer_routes",
    "segmenter.entrypoints.ingest_routes",
    "segmenter.entrypoints.schemas",
    "segmenter.entrypoints.segment_schemas",
    "segmenter.entrypoints.segment_routes",
    "shared.http.admin",
    "segmenter.adapters.repository",
    "segmenter.services",
    "segmenter.domain.analytics",
    "segmenter.domain.commands",
    "segmenter.domain.membership",
    "segmenter.domain.recommend",
)
"""What the segmenter's API imports only when a request first reaches it."""
SEGMENTER_UNTIL_CALLED = (
    "segmenter.adapters.analytics_data",
    "segmenter.adapters.analytics_store",
    "segmenter.adapters.campaign_results",
    "segmenter.adapters.journey_results",
    "segmenter.adapters.nightly_runs",
    "segmenter.adapters.rights",
    "segmenter.services.analytics",
    "segmenter.services.clv",
    "segmenter.services.customers",
    "segmenter.services.ingest",
    "segmenter.services.nightly",
    "segmenter.services.rights",
    "segmenter.services.segments",
    "segmenter.domain.membership",
    "segmenter.domain.recommend",
)
"""What the segmenter's container imports only when a use case or adapter is first used."""
WEB = ("fastapi", "starlette", "mangum")
"""What only the API handlers import."""

PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
if sys.argv[2]:
    importlib.import_module(sys.argv[2]).build()
modules, deferred = sorted(sys.modules), None
if "fastapi" in sys.modules:
    from fastapi._compat import v2
    deferred = "_type_adapter" in vars(v2.ModelField)
print(json.dumps({"modules": modules, "adapters_deferred": deferred}))
"""


def _cold(module: str, build: str = "") -> dict[str, object]:
    """Import `module` (then build `build`'s container) in a fresh interpreter."""
    found: dict[str, object] = json.loads(run_fresh(PROBE, module, build).splitlines()[-1])
    return found


def _loaded(modules: object, names: tuple[str, ...]) -> list[str]:
    assert isinstance(modules, list)
    return sorted({n for n in names for m in modules if m == n or m.startswith(n + ".")})


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_imports_only_what_its_work_needs(handler: str) -> None:
    """Given a fresh interpreter
    When a function's handler module is imported (the start of every cold start)
    Then neither the journey engine nor the analytics stack, boto3, pydantic v1 or the
    operator's tooling is loaded; an event handler loads no web framework either."""
    modules = _cold(handler)["modules"]
    assert _loaded(modules, NEVER_AT_IMPORT) == []
    if not handler.endswith(".api"):
        assert _loaded(modules, WEB) == []


def test_the_messenger_api_serves_its_first_request_without_the_journey_engine() -> None:
    """Given a fresh interpreter that imported the messenger's API
    When its container is built (the first request of a cold start)
    Then the journey engine is still not imported: only a journey route or event loads it."""
    modules = _cold("messenger.entrypoints.api", "messenger.bootstrap")["modules"]
    assert _loaded(modules, JOURNEY_ENGINE) == []


def test_the_messenger_builds_its_adapters_and_use_cases_on_first_use() -> None:
    """Given a fresh interpreter that imported the messenger's API
    When its container is built (the first request of a cold start)
    Then no adapter, channel, send pipeline, campaign or webhook module is loaded yet:
    `messenger/bootstrap.py` imports each when a request first reaches it, so a list of
    messages loads the message store only."""
    modules = _cold("messenger.entrypoints.api", "messenger.bootstrap")["modules"]
    assert _loaded(modules, MESSENGER_UNTIL_REACHED) == []


def test_the_segmenter_api_imports_its_use_cases_with_the_first_request() -> None:
    """Given a fresh interpreter
    When the segmenter's API is imported (the start of its cold start)
    Then neither its composition root nor an adapter, use case, command or membership
    module is loaded, nor any group of routes: each group (`RouteGroup`) is imported
    when a request first reaches its paths, and the routes, schemas and `deps.build`
    import the rest on first use."""
    modules = _cold("segmenter.entrypoints.api")["modules"]
    assert _loaded(modules, ("segmenter.bootstrap", *SEGMENTER_UNTIL_REACHED)) == []


def test_the_segmenter_wires_its_use_cases_on_first_use() -> None:
    """Given a fresh interpreter that imported the segmenter's API
    When its container is built (the first request of a cold start)
    Then no use case, nor an adapter but the table's, is imported yet:
    `segmenter/bootstrap.py` wires each when a route first calls it, so a list of
    segments loads no ingest, nightly, membership or analytics code."""
    modules = _cold("segmenter.entrypoints.api", "segmenter.bootstrap")["modules"]
    assert _loaded(modules, SEGMENTER_UNTIL_CALLED) == []


def test_an_api_defers_fastapi_s_type_adapters_to_their_first_use() -> None:
    """Given a fresh interpreter
    When an API handler is imported
    Then FastAPI's per-route TypeAdapters are deferred (the shape `shared/http/lazy.py`
    relies on still holds in the pinned FastAPI)."""
    assert _cold("segmenter.entrypoints.api")["adapters_deferred"] is True


SEGMENT_LIST_PROBE = """
import json, sys
from segmenter.entrypoints import api, segment_routes
from segmenter.adapters import repository
from segmenter.services import segments
segments.builtin_definitions()
print(json.dumps(sorted(sys.modules)))
"""
SEGMENT_LIST_NEVER = (
    "shared.segment_rules",
    "segmenter.domain.segments.rfm",
    "segmenter.services.recompute",
)
"""The rule language and the RFM scoring: what a segment list never needs."""


def test_a_segment_list_loads_neither_the_rule_language_nor_the_rfm_scoring() -> None:
    """Given a fresh interpreter
    When it imports what the segmenter's first request, a segment list, imports (its
    route group, the table's adapter, the segments use case) and lists the built-ins
    Then the rule language (`shared.segment_rules`), the RFM scoring and the recompute's
    results are not loaded: the built-ins' rules are parsed, and the package's names
    loaded, on first use."""
    modules = json.loads(run_fresh(SEGMENT_LIST_PROBE).splitlines()[-1])
    assert _loaded(modules, SEGMENT_LIST_NEVER) == []


def test_the_lazy_segment_names_are_the_names_the_type_checker_sees() -> None:
    """Given segmenter.domain.segments, which lists its names three times (the imports the
    type checker reads, `_EXPORTS`, which loads them on first use, and `__all__`)
    When the lists are read
    Then they name the same names from the same modules, so none can drift."""
    import ast

    import segmenter.domain.segments as segments

    tree = ast.parse(Path(segments.__file__).read_text())
    checked = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    seen: dict[str, str] = {}
    for node in checked.body:
        assert isinstance(node, ast.ImportFrom)
        home = node.module or ""
        if node.level:
            home = f"segmenter.domain.segments.{home}"
        seen |= {alias.name: home for alias in node.names}
    assert seen == segments._HOME
    assert sorted(segments.__all__) == sorted(seen)
    assert all(getattr(segments, name) is not None for name in seen)
