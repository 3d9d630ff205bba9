"""An adapter built on its first use: a cold start's request imports and builds only the
adapters its use case reaches, whatever the composition root wires."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")


class _OnFirstUse:
    """Stands in for an adapter and builds it on its first attribute asked for, as
    `shared.aws.LazyClient` does for a client: a request imports and builds only the
    adapters its use case reaches (cold start)."""

    __slots__ = ("_built", "_lock", "_make")

    def __init__(self, make: Callable[[], object]) -> None:
        self._make = make
        self._built: object = None
        self._lock = threading.Lock()

    def _adapter(self) -> object:
        built = self._built
        if built is None:
            with self._lock:
                if self._built is None:
                    self._built = self._make()
                built = self._built
        return built

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter(), name)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        """The adapter's class, so `isinstance` sees the adapter (as `unittest.mock` does)."""
        return type(self._adapter())


def on_first_use(make: Callable[[], T]) -> T:
    """`make()`'s adapter, built when first used."""
    return cast(T, _OnFirstUse(make))
