"""Paces calls to a provider to its rate limit (SES 14/s, LINE 2,000/min, SNS 20/s...).

A token bucket per channel, wrapped around the real channel so every send path (a
campaign wave, the due-send dispatcher, a single API send) is paced alike. The limit
is per process: campaign waves run in the one journey-dispatcher invocation at a time,
which is where the volume is; event-driven sends (welcome, requested messages) are a
trickle next to it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from messenger.channels.base import Channel, OutboundMessage, SendResult


class RateLimiter:
    """`rate` calls per `per` seconds, with bursts of at most `burst` calls."""

    def __init__(
        self,
        rate: float,
        per: float = 1.0,
        *,
        burst: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or per <= 0:
            raise ValueError("rate and period must be positive")
        self.per_second = rate / per
        self.burst = burst if burst is not None else max(1.0, min(rate, self.per_second))
        self._tokens = self.burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._last = monotonic()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.per_second)
            self._last = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.per_second
                self.waited += wait
                self._sleep(wait)
                self._last = self._monotonic()
                self._tokens = 1.0
            self._tokens -= 1


class ThrottledChannel(Channel):
    """The wrapped channel, one provider call per token."""

    def __init__(self, inner: Channel, limiter: RateLimiter) -> None:
        self.inner = inner
        self.limiter = limiter
        self.name = inner.name
        self.supports_html = inner.supports_html
        self.supports_subject = inner.supports_subject
        self.max_text_length = inner.max_text_length
        self.supports_idempotency_key = inner.supports_idempotency_key
        self.sandbox = inner.sandbox
        self.max_recipients = inner.max_recipients

    def send(self, message: OutboundMessage) -> SendResult:
        self.limiter.acquire()
        return self.inner.send(message)

    def send_many(self, group_id: str, to: Sequence[str], message: OutboundMessage) -> SendResult:
        self.limiter.acquire()
        return self.inner.send_many(group_id, to, message)
