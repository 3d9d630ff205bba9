"""A messenger with journeys under moto: real HTTP to the API, real events into the
handler, real DynamoDB, mail through moto's SES, and one clock the test moves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from messenger import bootstrap, services
from messenger.bootstrap import MessengerContainer
from messenger.entrypoints import api as messenger_api
from messenger.entrypoints import events as messenger_events
from messenger.services.ports import ProfileRules
from shared import clock as shared_clock
from shared.auth.service import authenticate_token, create_key
from shared.clock import FixedClock
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.segment_rules.evaluate import evaluate
from shared.segment_rules.facts import CustomerFacts
from shared.segment_rules.rules import parse_rule
from tests.conftest import Cloud, ShopKeys
from tests.messenger.test_messaging import FakeRecommendations

START = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 12:00 JST
STEP_DAYS = (1, 3, 5, 7, 14, 21, 30)


def post_purchase(**overrides: Any) -> dict[str, Any]:
    """The seeds' step mails: days 1, 3, 5, 7, 14, 21, 30 after the order shipped, for a
    first order, ended by the next order."""
    steps: dict[str, Any] = {}
    for i, day in enumerate(STEP_DAYS):
        nxt = f"wait-{STEP_DAYS[i + 1]}" if i + 1 < len(STEP_DAYS) else "done"
        steps[f"wait-{day}"] = {
            "type": "wait_until",
            "anchor": "shipped_at",
            "days": day,
            "next": f"mail-{day}",
        }
        steps[f"mail-{day}"] = {"type": "send", "message_id": f"step-{day}", "next": nxt}
    steps["done"] = {"type": "exit"}
    body: dict[str, Any] = {
        "journey_id": "post-purchase",
        "name": "Post-purchase education",
        "trigger": {"event": "order.shipped", "key": "order_id"},
        "entry_filter": {"field": "order.is_first_order", "op": "eq", "value": True},
        "start": "wait-1",
        "steps": steps,
        "exit_events": ["order.placed"],
        "goal": {"event": "order.placed", "days": 90},
        "reentry": {"mode": "per_key"},
    }
    body.update(overrides)
    return body


class FakeProfileRules(ProfileRules):
    """The segmenter's judgement, with the real rule language over profile fields the test
    sets (`fields[customer_id]`); counts the questions asked."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.fields: dict[str, dict[str, Any]] = {}
        self.asked = 0

    def match(
        self, shop_id: str, customer_id: str, rules: Sequence[Mapping[str, Any]]
    ) -> list[bool]:
        self.asked += 1
        facts = CustomerFacts(customer_id, self.fields.get(customer_id, {}))
        return [evaluate(parse_rule(dict(r)), facts, self.clock.now) for r in rules]


class JourneyWorld:
    def __init__(self, cloud: Cloud, shop: ShopKeys, shards: int = 4) -> None:
        self.cloud = cloud
        self.clock = FixedClock(START)
        shared_clock.use(self.clock)
        built = bootstrap.build()
        settings = built.adapters.settings.model_copy(update={"journey_due_shards": shards})
        self.profiles = FakeProfileRules(self.clock)
        self.container: MessengerContainer = built.replaced(
            clock=self.clock,
            recommendations=FakeRecommendations(),
            settings=settings,
            profile_rules=self.profiles,
        )
        messenger_api.app.state.container = self.container
        messenger_events.container.use(self.container)
        self.http = TestClient(messenger_api.app)
        admin = authenticate_token(cloud.keys, shop.admin)
        token = create_key(cloud.keys, admin, "crm", ["messages:send", "messages:read"]).token
        self.auth = {"Authorization": f"Bearer {token}"}
        self._n = 0

    def use(self, **adapters: Any) -> None:
        self.container = self.container.replaced(**adapters)
        messenger_api.app.state.container = self.container
        messenger_events.container.use(self.container)

    # ------------------------------------------------------------ setup
    def customer(self, customer_id: str = "c-1", **fields: Any) -> None:
        snapshot: dict[str, Any] = {
            "customer_id": customer_id,
            "email": f"{customer_id}@example.jp",
            "last_name": "山田",
            "first_name": "花子",
            "consents": [{"channel": "email", "granted": True, "source": "signup-form"}],
        }
        snapshot.update(fields)
        services.record_customer(
            self.container.adapters.recipients,
            "acme",
            details.CustomerSnapshot.model_validate(snapshot),
            self.clock.now,
        )

    def message(self, message_id: str) -> None:
        body = {
            "message_id": message_id,
            "name": message_id,
            "email": {
                "subject": f"{message_id}: {{{{ customer.last_name }}}}様",
                "html": "<p>{{ customer.last_name }}様</p>",
                "text": "{{ customer.last_name }}様",
            },
        }
        r = self.http.post("/v1/messages", json=body, headers=self.auth)
        assert r.status_code == 201, r.text

    def policy(self, **fields: Any) -> None:
        r = self.http.put("/v1/messenger/policy", json=fields, headers=self.auth)
        assert r.status_code == 200, r.text

    def journey(self, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post("/v1/journeys", json=body, headers=self.auth)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def stats(self, journey_id: str = "post-purchase") -> dict[str, Any]:
        r = self.http.get(f"/v1/journeys/{journey_id}/stats", headers=self.auth)
        assert r.status_code == 200, r.text
        return dict(r.json())

    # ------------------------------------------------------------ events and time
    def event(
        self, kind: str, detail: dict[str, Any], event_id: str | None = None
    ) -> dict[str, Any]:
        self._n += 1
        envelope = EventEnvelope(
            id=event_id or f"evt-{self._n}",
            shop="acme",
            type=kind,
            time=self.clock.now,
            detail=detail,
        )
        return messenger_events.handler({"detail": envelope.model_dump(mode="json")}, None)

    def order(
        self,
        order_id: str,
        customer_id: str = "c-1",
        n: int = 1,
        total: str = "3980",
        placed_at: datetime | None = None,
    ) -> dict[str, Any]:
        return self.event(
            "order.placed",
            {
                "order_id": order_id,
                "customer": {
                    "customer_id": customer_id,
                    "email": f"{customer_id}@example.jp",
                    "consents": [{"channel": "email", "granted": True, "source": "checkout"}],
                },
                "placed_at": (placed_at or self.clock.now).isoformat(),
                "currency": "JPY",
                "total": total,
                "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": total}],
                "order_count": n,
                "is_first_order": n == 1,
            },
        )

    def shipped(
        self, order_id: str, customer_id: str = "c-1", shipped_at: datetime | None = None
    ) -> dict[str, Any]:
        return self.event(
            "order.shipped",
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "shipped_at": (shipped_at or self.clock.now).isoformat(),
            },
        )

    def tick(self) -> dict[str, Any]:
        return messenger_events.journey_dispatcher()

    def run_for(self, days: float, every: timedelta = timedelta(hours=6)) -> None:
        """Move the clock forward, the dispatcher ticking on the way (as the schedule would)."""
        end = self.clock.now + timedelta(days=days)
        while self.clock.now < end:
            self.clock.now = min(self.clock.now + every, end)
            self.tick()

    def journey_mails(self, customer_id: str = "c-1") -> list[tuple[str, datetime]]:
        """(message subject prefix, time sent) of each journey mail to the person."""
        r = self.http.get("/v1/deliveries", params={"customer_id": customer_id}, headers=self.auth)
        assert r.status_code == 200, r.text
        return sorted(
            (d["trigger"], datetime.fromisoformat(d["sent_at"]))
            for d in r.json()
            if d["trigger"].startswith("journey:") and d["status"] == "sent"
        )


def step_mails_world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    """A shop with customer c-1, room for the series under the cap, and the seven
    step-mail messages (the journey itself is the test's to create)."""
    w = JourneyWorld(cloud, shop)
    w.policy(cap_count=20)
    w.customer("c-1")
    for day in STEP_DAYS:
        w.message(f"step-{day}")
    return w
