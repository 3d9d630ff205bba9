"""The welcome mail on the one send path (channel choice, consent, cap, quiet hours):
at most once through failures, retries and crashes. Under moto, with a scripted mail
provider."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from messenger import bootstrap
from messenger.bootstrap import MessengerContainer
from messenger.domain.model import DeliveryStatus
from messenger.entrypoints import events as messenger_events
from shared import clock as shared_clock
from shared.clock import FixedClock as Clock
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.errors import InvalidInput
from tests.conftest import Cloud
from tests.messenger.fakes import RecordingPublisher, ScriptedChannel

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def _event(
    first: bool = True, opted_in: bool = True, locale: str = "ja", n: int = 1
) -> dict[str, Any]:
    detail = details.OrderPlaced(
        order_id=f"o-{n}",
        customer=details.CustomerSnapshot(
            customer_id="c-1",
            email="hanako@example.jp",
            first_name="Hanako",
            last_name="Yamada",
            locale=locale,
            consents=[
                details.ConsentSnapshot(channel="email", granted=opted_in, source="checkout")
            ],
        ),
        placed_at=NOW,
        currency="JPY",
        total=Decimal(3980),
        items=[details.LineItem(sku="SERUM-30", quantity=1, unit_price=Decimal(3980))],
        order_count=1 if first else 2,
        is_first_order=first,
    )
    envelope = EventEnvelope(
        id=f"e-{n}",
        shop="acme",
        type="order.placed",
        time=NOW,
        detail=detail.model_dump(mode="json"),
    )
    return {"detail": envelope.model_dump(mode="json"), "detail-type": "order.placed"}


@pytest.fixture
def setup(cloud: Cloud) -> tuple[MessengerContainer, ScriptedChannel, Clock]:
    clock = Clock(NOW)
    shared_clock.use(clock)
    channel = ScriptedChannel([])
    built = bootstrap.build()
    container = built.replaced(
        clock=clock,
        channels={"email": channel},
        publisher=RecordingPublisher(),
        sender=built.adapters.sender.__class__("Shop", "shop@example.com", "Tokyo"),
    )
    messenger_events.container.use(container)
    return container, channel, clock


def _send(**event: Any) -> dict[str, Any]:
    return messenger_events.handler(_event(**event), None)


def test_retryable_failure_is_retried_by_the_dispatcher_and_sends_once(
    setup: tuple[MessengerContainer, ScriptedChannel, Clock],
) -> None:
    _, channel, clock = setup
    channel.script = ["retryable", "sent"]
    # Given SES fails for now
    assert _send()["status"] == "retry_scheduled"
    # When the dispatcher runs after the backoff, and the event is delivered again
    clock.now += timedelta(minutes=5)
    messenger_events.journey_dispatcher()
    assert _send()["reason"] == "already_delivered"
    # Then exactly one mail went out
    assert len(channel.accepted) == 1


def test_hard_failure_is_recorded_and_never_retried(
    setup: tuple[MessengerContainer, ScriptedChannel, Clock],
) -> None:
    container, channel, _ = setup
    channel.script = ["hard_failed"]
    assert _send()["status"] == "failed"
    found = container.adapters.deliveries.list_deliveries("acme", "c-1", 10)
    assert [d.status for d in found] == [DeliveryStatus.FAILED]
    assert _send()["reason"] == "already_delivered"
    assert channel.accepted == []


def test_crash_after_provider_accepted_never_sends_twice(
    setup: tuple[MessengerContainer, ScriptedChannel, Clock],
) -> None:
    # Given the process dies right after SES accepted the mail, before 'sent' is written
    _, channel, _ = setup
    channel.script = ["crash"]
    with pytest.raises(SystemExit):
        _send()
    # When Lambda retries the event
    outcome = _send()
    # Then the claim written before the call stops a second mail
    assert outcome["reason"] == "already_delivered"
    assert len(channel.accepted) == 1


def test_english_customers_get_the_english_mail_with_the_legal_footer(
    setup: tuple[MessengerContainer, ScriptedChannel, Clock],
) -> None:
    _, channel, _ = setup
    assert _send(locale="en")["status"] == "sent"
    assert channel.accepted[0].subject == "Thank you for your first order, Hanako | Shop"
    assert "Unsubscribe" in channel.accepted[0].text
    assert channel.accepted[0].text.count("Unsubscribe:") == 1  # one footer, not two


def test_welcome_counts_against_the_frequency_cap(
    setup: tuple[MessengerContainer, ScriptedChannel, Clock],
) -> None:
    # Given the customer already had as many marketing messages as the cap allows
    container, channel, _ = setup
    from messenger.domain.policy import ShopPolicy

    container.library.save_policy("acme", ShopPolicy(cap_count=1, cap_window=timedelta(days=1)))
    _send(first=False, n=0)  # records the customer
    r = container.adapters.recipients.get("acme", "c-1")
    assert r is not None
    from messenger.domain.model import Delivery, DeliveryKey
    from messenger.domain.records import CapUpdate

    other = Delivery(
        DeliveryKey("acme", "api:x", "c-1", "a"),
        "email",
        "marketing",
        DeliveryStatus.SENDING,
        NOW,
        cap_counted=True,
    )
    container.adapters.deliveries.claim_send(
        other, expect=None, cap=CapUpdate(r.cap_version, (NOW,)), address=None
    )
    # When the first order arrives
    outcome = _send()
    # Then the welcome is deferred to the next free slot, not dropped
    assert outcome["status"] == "deferred" and outcome["reason"] == "frequency_cap"
    assert channel.accepted == []


def test_a_non_first_order_sends_nothing(
    setup: tuple[MessengerContainer, ScriptedChannel, Clock],
) -> None:
    _, channel, _ = setup
    assert _send(first=False)["reason"] == "not_first_order"
    assert channel.accepted == []


def test_a_template_that_fails_to_render_sends_nothing(
    setup: tuple[MessengerContainer, ScriptedChannel, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    from messenger.domain import rendering

    container, channel, _ = setup
    monkeypatch.setattr(rendering, "_string_envs", {})
    monkeypatch.setattr(rendering, "TEMPLATE_DIR", rendering.TEMPLATE_DIR.parent / "no-such-dir")
    with pytest.raises(InvalidInput) as err:
        _send()
    assert err.value.field == "email.subject"
    assert channel.accepted == []
    assert container.adapters.deliveries.list_deliveries("acme", "c-1", 10) == []


def test_sandbox_blocks_template_access_to_python_internals() -> None:
    from jinja2.exceptions import SecurityError

    from messenger.domain.rendering import _environment

    env = _environment()
    with pytest.raises(SecurityError):
        env.from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}").render()
