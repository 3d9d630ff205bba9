"""The messenger API's bodies, one module per route group, reached through the package."""

from __future__ import annotations

import importlib
import inspect
import json

import pytest
from pydantic import BaseModel

from messenger.entrypoints import schemas
from tests.shared.fresh import run_fresh


@pytest.mark.parametrize("group", sorted(schemas.GROUPS))
def test_the_package_names_every_body_of_each_group(group: str) -> None:
    """Given a route group's module of bodies
    When the package is asked for each body the module defines
    Then the package names it in that group and gives the module's own class."""
    module = importlib.import_module(f"messenger.entrypoints.schemas.{group}")
    defined = {
        name
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and value.__module__ == module.__name__
        and not name.startswith("_")
    }
    assert defined == set(schemas.GROUPS[group])
    for name in defined:
        assert getattr(schemas, name) is getattr(module, name)
    assert all(issubclass(getattr(module, n), BaseModel) for n in defined if n != "DeliveryFilter")


def test_the_package_refuses_a_name_no_group_defines() -> None:
    """Given the package of bodies
    When it is asked for a name no group defines
    Then it raises AttributeError, as a module does."""
    with pytest.raises(AttributeError, match="NoSuchBody"):
        _ = schemas.NoSuchBody


PROBE = """
import json, sys
from messenger.entrypoints.api import app
before = sorted(m for m in sys.modules if m.startswith("messenger.entrypoints.schemas."))
app.openapi()
after = sorted(m for m in sys.modules if m.startswith("messenger.entrypoints.schemas."))
print(json.dumps([before, after]))
"""


def test_the_api_imports_each_group_of_bodies_when_a_route_first_needs_it() -> None:
    """Given a fresh interpreter
    When the messenger's API is imported, then its OpenAPI document is made
    Then no group of bodies is loaded at import, and all of them for the document."""
    before, after = json.loads(run_fresh(PROBE).splitlines()[-1])
    assert before == []
    assert after == sorted(
        ["messenger.entrypoints.schemas.common"]
        + [f"messenger.entrypoints.schemas.{g}" for g in schemas.GROUPS]
    )
