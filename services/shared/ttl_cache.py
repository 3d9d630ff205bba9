"""One small cache for what a warm container may reuse for a while: message definitions,
shop policies, LINE credentials, a shop's compiled segment rules. Entries expire `ttl`
seconds after they were put, on the monotonic clock (injected: tests move it by hand);
the last entry stays readable after it expires, for a caller that would rather serve it
than fail. Thread-safe: a container serves concurrent requests locally."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, NamedTuple, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Entry(NamedTuple, Generic[V]):
    """A cached value (None is a value: "there is none" may be cached too). A named tuple,
    not a frozen dataclass: as immutable, and about 7x cheaper to define at a cold start."""

    value: V
    stamp: float


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._monotonic = monotonic
        self._entries: dict[K, Entry[V]] = {}
        self._lock = threading.Lock()

    def fresh(self, key: K) -> Entry[V] | None:
        """The entry if it was put less than `ttl` seconds ago."""
        last = self.last(key)
        if last is not None and self._monotonic() - last.stamp < self._ttl:
            return last
        return None

    def last(self, key: K) -> Entry[V] | None:
        """The entry last put, however old."""
        with self._lock:
            return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        entry = Entry(value, self._monotonic())
        with self._lock:
            self._entries[key] = entry

    def drop(self, key: K) -> None:
        """Forget the entry (a change this process made)."""
        with self._lock:
            self._entries.pop(key, None)
