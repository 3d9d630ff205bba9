"""Work FastAPI does when a route is declared, at import, that a cold start need not do.

- FastAPI builds a pydantic `TypeAdapter` for every parameter and response of every
  route: over a hundred per service, most of which a cold start's first request never
  uses. Each is built on its first use instead (validation, serialisation or the OpenAPI
  document), by FastAPI's own code with the same arguments.
- To refuse pydantic v1 models, FastAPI imports `pydantic.v1` (about a seventh of a bare
  `import fastapi`) on the first route. A v1 model can exist only once `pydantic.v1` is
  imported, so until then the answer is "no" without importing it.

Both touch private names of the pinned FastAPI; if their shape changes, the step is
skipped (the work is then done at import, as before) and `tests/shared/test_cold_imports.py`
fails, so the loss is seen."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from functools import cached_property
from typing import Any

import fastapi.encoders
from fastapi._compat import shared, v2
from pydantic.warnings import UnsupportedFieldAttributeWarning


def defer_type_adapters() -> bool:
    """Make FastAPI build each route field's TypeAdapter on first use; whether it could."""
    field = v2.ModelField
    if isinstance(field.__dict__.get("_type_adapter"), cached_property):
        return True
    build = field.__dict__.get("__post_init__")
    if build is None or "_type_adapter" in field.__dict__:
        return False

    def type_adapter(self: Any) -> Any:
        build(self)  # FastAPI's own construction, which sets `self._type_adapter`
        adapter = self.__dict__["_type_adapter"]
        if not adapter.pydantic_complete:
            # A model built on first use (`Schema`) makes its adapter wait too: build it
            # now, under the filter FastAPI's construction sets for its field metadata.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnsupportedFieldAttributeWarning)
                adapter.rebuild(raise_errors=False, _types_namespace={})
        return adapter

    lazy: cached_property[Any] = cached_property(type_adapter)
    lazy.__set_name__(field, "_type_adapter")
    field._type_adapter = lazy  # type: ignore[assignment]
    field.__post_init__ = _nothing  # type: ignore[method-assign]
    return True


def _nothing(self: Any) -> None:
    """The dataclass' `__post_init__` once the adapter is deferred."""


def skip_pydantic_v1_import() -> bool:
    """Answer FastAPI's "is this a pydantic v1 model?" without importing `pydantic.v1`
    while nothing has imported it; whether it could."""
    patched = False
    for module, name in (
        (shared, "is_pydantic_v1_model_class"),
        (shared, "is_pydantic_v1_model_instance"),
        (fastapi.encoders, "is_pydantic_v1_model_instance"),
    ):
        check = getattr(module, name, None)
        if check is None:
            continue
        if not getattr(check, "_v1_loaded_only", False):
            setattr(module, name, _when_v1_loaded(check))
        patched = True
    return patched


def _when_v1_loaded(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def only_if_loaded(obj: Any) -> bool:
        return "pydantic.v1" in sys.modules and check(obj)

    only_if_loaded._v1_loaded_only = True  # type: ignore[attr-defined]
    return only_if_loaded
