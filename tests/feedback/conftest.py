"""Feedback fixtures: the app and the events handler wired to one container whose clock
the test controls and whose publisher records what was published (and passes it on)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from feedback import bootstrap
from feedback.bootstrap import FeedbackContainer
from shared.adapters.eventbridge import EventPublisher
from shared.auth.service import authenticate_token, create_key
from shared.contracts.envelope import EventEnvelope
from tests.conftest import Cloud, ShopKeys, make_shop


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class RecordingPublisher(EventPublisher):
    """Keeps what was published (and passes it on to the real bus)."""

    def __init__(self, inner: EventPublisher) -> None:
        self.inner = inner
        self.published: list[EventEnvelope] = []

    def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        self.inner.publish(envelopes)
        self.published.extend(envelopes)

    def of_type(self, event_type: str) -> list[EventEnvelope]:
        return [e for e in self.published if e.type == event_type]

    def messages(self, template: str | None = None) -> list[dict[str, Any]]:
        return [
            e.detail
            for e in self.of_type("message.requested")
            if template is None or e.detail["template"] == template
        ]

    def clear(self) -> None:
        self.published.clear()


class FeedbackKeys:
    """A shop's keys: admin (defines surveys), storefront, BI reader, marketer."""

    def __init__(self, shop: ShopKeys, storefront: str, reader: str, marketer: str) -> None:
        self.shop_id = shop.shop_id
        self.admin = shop.header(shop.admin)
        self.storefront = shop.header(storefront)
        self.reader = shop.header(reader)
        self.marketer = shop.header(marketer)


def feedback_keys(cloud: Cloud, shop: ShopKeys) -> FeedbackKeys:
    admin = authenticate_token(cloud.keys, shop.admin)
    storefront = create_key(cloud.keys, admin, "storefront", ["feedback:write"]).token
    reader = create_key(cloud.keys, admin, "bi", ["feedback:read"]).token
    marketer = create_key(cloud.keys, admin, "marketer", ["messages:send"]).token
    return FeedbackKeys(shop, storefront, reader, marketer)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))


@pytest.fixture
def fb(cloud: Cloud, clock: Clock) -> Iterator[FeedbackContainer]:
    from feedback.entrypoints import events
    from feedback.entrypoints.api import app

    built = bootstrap.build(cloud.settings)
    built.clock = clock
    built.publisher = RecordingPublisher(built.publisher)
    app.state.container = built
    events.use(built)
    yield built
    app.state.container = None
    events.reset()


@pytest.fixture
def published(fb: FeedbackContainer) -> RecordingPublisher:
    assert isinstance(fb.publisher, RecordingPublisher)
    return fb.publisher


@pytest.fixture
def api(fb: FeedbackContainer) -> TestClient:
    from feedback.entrypoints.api import app

    return TestClient(app)


@pytest.fixture
def keys(cloud: Cloud, shop: ShopKeys) -> FeedbackKeys:
    return feedback_keys(cloud, shop)


@pytest.fixture
def other_keys(cloud: Cloud) -> FeedbackKeys:
    return feedback_keys(cloud, make_shop(cloud, "other-shop"))


SURVEY: dict[str, Any] = {
    "survey_id": "why-bought",
    "title": "ご購入のきっかけ",
    "description": "1分で終わるアンケートです。",
    "questions": [
        {
            "id": "q1",
            "kind": "single",
            "text": "どなたのためにご購入されましたか?",
            "options": [
                {"id": "self", "label": "自分用", "preferences": {"motive": "self"}},
                {"id": "gift", "label": "ギフト", "preferences": {"motive": "gift"}},
            ],
        },
        {
            "id": "q2",
            "kind": "multiple",
            "text": "苦手なものはありますか?",
            "required": False,
            "options": [
                {"id": "fragrance", "label": "香料", "preferences": {"dislike": "fragrance"}},
                {"id": "alcohol", "label": "アルコール", "preferences": {"dislike": "alcohol"}},
                {"id": "none", "label": "特になし"},
            ],
        },
        {"id": "q3", "kind": "rating", "text": "使い心地はいかがですか?"},
        {"id": "q4", "kind": "nps", "text": "友人にすすめたいと思いますか?"},
        {"id": "q5", "kind": "text", "text": "ご意見をお聞かせください", "required": False},
    ],
}


def answers(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"q1": "gift", "q2": ["fragrance"], "q3": 4, "q4": 9}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}
