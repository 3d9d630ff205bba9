"""Segmenter fixtures: the app with a container whose clock the test controls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from segmenter import bootstrap
from segmenter.bootstrap import SegmenterContainer
from shared.adapters.eventbridge import EventPublisher
from shared.clock import FixedClock as Clock
from shared.contracts.envelope import EventEnvelope
from tests.conftest import Cloud


class RecordingPublisher(EventPublisher):
    """Keeps what was published (and passes it on to the real bus)."""

    def __init__(self, inner: EventPublisher) -> None:
        self.inner = inner
        self.published: list[EventEnvelope] = []

    def publish(self, envelopes: Any) -> None:
        self.published.extend(envelopes)
        self.inner.publish(envelopes)

    def types(self) -> list[str]:
        return [e.type for e in self.published]


@pytest.fixture
def container(cloud: Cloud, clock: Clock) -> Iterator[SegmenterContainer]:
    from segmenter.entrypoints.api import app

    real = bootstrap.build(cloud.settings)
    built = real.replaced(clock=clock, publisher=RecordingPublisher(real.publisher))
    app.state.container = built
    yield built
    app.state.container = None


@pytest.fixture
def api(container: SegmenterContainer) -> TestClient:
    from segmenter.entrypoints.api import app

    return TestClient(app)
