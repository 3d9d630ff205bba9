"""Feedback fixtures: the app and the events handler wired to one container whose clock
the test controls and whose publisher records what was published (and passes it on)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from fastapi.testclient import TestClient

from feedback import bootstrap
from feedback.adapters.repository import DynamoFeedbackRepository
from feedback.bootstrap import FeedbackContainer
from shared.adapters.eventbridge import EventPublisher
from shared.auth.service import authenticate_token, create_key
from shared.clock import FixedClock as Clock
from shared.contracts.envelope import EventEnvelope
from tests.conftest import Cloud, ShopKeys, make_shop


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


class DynamoHooks:
    """The feedback repository on a DynamoDB client of its own, with hooks on its calls:
    what moto cannot stage (a concurrent writer's `TransactionConflict`, another runner
    acting between two calls) is staged at the client's `before-call` event, and every
    other call still reaches moto."""

    def __init__(self, cloud: Cloud, fb: FeedbackContainer) -> None:
        self.client = cloud.session.client("dynamodb")
        repo = DynamoFeedbackRepository(self.client, cloud.settings.feedback_table)
        self.container = fb.replaced(surveys=repo, restock=repo)
        self.conflicts_left = 0
        self.client.meta.events.register(
            "before-call.dynamodb.TransactWriteItems", self._maybe_conflict
        )

    def conflict(self, times: int) -> None:
        """The next `times` transactions are cancelled with `TransactionConflict` (as when
        another request writes one of their items at that moment)."""
        self.conflicts_left = times

    def _maybe_conflict(self, params: dict[str, Any], **_: Any) -> Any:
        if self.conflicts_left <= 0:
            return None
        self.conflicts_left -= 1
        items = json.loads(params["body"])["TransactItems"]
        reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing"}] + [
            {"Code": "None"} for _ in items[1:]
        ]
        error = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": reasons,
        }
        return AWSResponse("https://dynamodb.test", 400, HTTPHeaders(), None), error

    def before_call(self, n: int, action: Callable[[], object]) -> Callable[[], bool]:
        """Run `action` just before the n-th DynamoDB call from now (whoever makes it);
        returns a check whether it ran, and unhooks itself after it ran."""
        calls = 0
        ran = False

        def hook(**_: Any) -> None:
            nonlocal calls, ran
            calls += 1
            if calls == n and not ran:
                ran = True
                self.client.meta.events.unregister("before-call.dynamodb", hook)
                action()

        self.client.meta.events.register("before-call.dynamodb", hook)

        def done() -> bool:
            self.client.meta.events.unregister("before-call.dynamodb", hook)
            return ran

        return done


def feedback_keys(cloud: Cloud, shop: ShopKeys) -> FeedbackKeys:
    admin = authenticate_token(cloud.keys, shop.admin)
    storefront = create_key(cloud.keys, admin, "storefront", ["feedback:write"]).token
    reader = create_key(cloud.keys, admin, "bi", ["feedback:read"]).token
    marketer = create_key(cloud.keys, admin, "marketer", ["messages:send"]).token
    return FeedbackKeys(shop, storefront, reader, marketer)


def _install(built: FeedbackContainer | None) -> None:
    """The container the app and the events handler use (None: build afresh)."""
    from feedback.entrypoints import events
    from feedback.entrypoints.api import app

    app.state.container = built
    events.container.use(built)


@pytest.fixture
def fb(cloud: Cloud, clock: Clock) -> Iterator[FeedbackContainer]:
    real = bootstrap.build(cloud.settings)
    built = real.replaced(clock=clock, publisher=RecordingPublisher(real.publisher))
    _install(built)
    yield built
    _install(None)


@pytest.fixture
def published(fb: FeedbackContainer) -> RecordingPublisher:
    assert isinstance(fb.publisher, RecordingPublisher)
    return fb.publisher


@pytest.fixture
def api(fb: FeedbackContainer) -> TestClient:
    from feedback.entrypoints.api import app

    return TestClient(app)


@pytest.fixture
def dynamo_hooks(cloud: Cloud, fb: FeedbackContainer) -> DynamoHooks:
    hooks = DynamoHooks(cloud, fb)
    _install(hooks.container)
    return hooks


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
