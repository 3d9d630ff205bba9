"""The one cache of the messenger's warm containers (messages, policies, LINE credentials)."""

from __future__ import annotations

from shared.ttl_cache import TtlCache


def test_an_entry_is_fresh_for_ttl_seconds_and_stays_readable_after() -> None:
    """Given a value (None among them: "no credentials" is worth remembering too) put at t=0
    When the clock reaches the ttl
    Then it is no longer fresh, but the last value is still there for a caller that would
    rather serve it than fail."""
    now = [0.0]
    cache: TtlCache[str, str | None] = TtlCache(60, monotonic=lambda: now[0])
    cache.put("shop-a", None)
    cache.put("shop-b", "token")
    now[0] = 59.9
    hit = cache.fresh("shop-a")
    assert hit is not None and hit.value is None
    now[0] = 60.0
    assert cache.fresh("shop-b") is None
    last = cache.last("shop-b")
    assert last is not None and last.value == "token"
    assert cache.fresh("shop-c") is None and cache.last("shop-c") is None
    cache.put("shop-b", "new")
    fresh = cache.fresh("shop-b")
    assert fresh is not None and fresh.value == "new"
