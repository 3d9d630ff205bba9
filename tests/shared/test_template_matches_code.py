"""The SAM template and the code agree, and the template lints clean."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

from shared.contracts.catalog import EVENT_CATALOG
from shared.events_handler import UnroutableEvent
from shared.local.template import functions, load_template
from tests.conftest import TEMPLATE


def test_cfn_lint_is_clean() -> None:
    exe = shutil.which("cfn-lint") or str(Path(sys.executable).parent / "cfn-lint")
    result = subprocess.run([exe, str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_handler_path_imports() -> None:
    specs = functions(load_template(TEMPLATE))
    assert len(specs) == 6
    for spec in specs:
        module = importlib.import_module(spec.module)
        assert callable(getattr(module, spec.attribute)), spec.handler
        if spec.http_routes:
            assert hasattr(module, "app"), f"{spec.module} serves HTTP but has no FastAPI app"


def test_every_rule_names_catalogued_types_from_their_publisher() -> None:
    for spec in functions(load_template(TEMPLATE)):
        for rule in spec.rules:
            for detail_type in rule.pattern["detail-type"]:
                assert detail_type in EVENT_CATALOG, (spec.logical_id, detail_type)
                assert EVENT_CATALOG[detail_type].source in rule.pattern["source"]


def test_every_rule_and_schedule_has_a_route_in_its_handler(cloud: object) -> None:
    """A type the rule delivers but the handler does not route would land in the DLQ."""
    for spec in functions(load_template(TEMPLATE)):
        handler = getattr(importlib.import_module(spec.module), spec.attribute)
        for schedule in spec.schedules:
            assert isinstance(handler(schedule.input, None), dict), schedule.name
        for rule in spec.rules:
            for detail_type in rule.pattern["detail-type"]:
                event = {
                    "detail-type": detail_type,
                    "detail": {"id": "x", "shop": "s", "type": detail_type, "detail": {}},
                }
                try:
                    handler(event, None)
                except UnroutableEvent as err:  # pragma: no cover - the failure we look for
                    raise AssertionError(
                        f"{spec.logical_id} has no route for {detail_type}"
                    ) from err
                except Exception:  # an empty detail fails validation: it was routed
                    pass
