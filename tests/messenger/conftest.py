"""The messenger tests' worlds: the real messenger on moto with fake LINE and mail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from messenger.entrypoints import events as messenger_events
from tests.conftest import Cloud, ShopKeys
from tests.messenger.line_server import fake_line_server
from tests.messenger.test_messaging import World


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> Iterator[World]:
    """The messenger's HTTP API and container over moto, LINE a fake server."""
    with fake_line_server() as line:
        yield World(cloud, line, shop)


@pytest.fixture
def events_world(cloud: Cloud, shop: ShopKeys) -> Iterator[World]:
    """A world whose container the messenger's event handler uses too, for the tests that
    hand events to `messenger_events.handler`."""
    with fake_line_server() as line:
        w = World(cloud, line, shop)
        messenger_events.container.use(w.container)
        yield w
