"""The welcome use case with fakes: at most once through failures, retries and crashes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from messenger import services
from messenger.domain.model import DeliveryStatus
from messenger.services import LinkSigner, Sender
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.errors import DependencyFailed, InvalidInput
from tests.messenger.fakes import FakeDeliveries, RecordingPublisher, ScriptedChannel

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def _event(
    first: bool = True, opted_in: bool = True, locale: str = "ja"
) -> tuple[EventEnvelope, details.OrderPlaced]:
    detail = details.OrderPlaced(
        order_id="o-1",
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
        id="e-1", shop="acme", type="order.placed", detail=detail.model_dump(mode="json")
    )
    return envelope, detail


def _send(repo: FakeDeliveries, channel: ScriptedChannel, **event: Any) -> services.Outcome:
    envelope, detail = _event(**event)
    return services.send_welcome(
        envelope,
        detail,
        repo=repo,
        email=channel,
        publisher=RecordingPublisher(),
        sender=Sender("Shop", "shop@example.com", "Tokyo"),
        links=LinkSigner("https://k.test", "s" * 32),
        clock=lambda: NOW,
    )


def test_retryable_failure_releases_the_claim_so_a_retry_sends() -> None:
    repo, channel = FakeDeliveries(), ScriptedChannel(["retryable", "sent"])
    with pytest.raises(DependencyFailed):
        _send(repo, channel)
    assert repo.rows == {}
    assert _send(repo, channel).status == "sent"
    assert len(channel.accepted) == 1


def test_hard_failure_is_recorded_and_never_retried() -> None:
    repo, channel = FakeDeliveries(), ScriptedChannel(["hard_failed"])
    assert _send(repo, channel).status == "failed"
    assert [d.status for d in repo.rows.values()] == [DeliveryStatus.FAILED]
    assert _send(repo, channel).reason == "already_delivered"
    assert channel.accepted == []


def test_crash_after_provider_accepted_never_sends_twice() -> None:
    # Given the process dies right after SES accepted the mail, before 'sent' is written
    repo, channel = FakeDeliveries(), ScriptedChannel(["crash"])
    with pytest.raises(SystemExit):
        _send(repo, channel)
    # When Lambda retries the event
    outcome = _send(repo, channel)
    # Then the claim written before the call stops a second mail
    assert outcome.reason == "already_delivered"
    assert len(channel.accepted) == 1


def test_english_customers_get_the_english_mail() -> None:
    repo, channel = FakeDeliveries(), ScriptedChannel(["sent"])
    _send(repo, channel, locale="en")
    assert channel.accepted[0].subject == "Thank you for your first order, Hanako | Shop"
    assert "Unsubscribe" in channel.accepted[0].text


def test_a_template_that_fails_to_render_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from messenger.domain import rendering

    monkeypatch.setattr(rendering, "_env", None)
    monkeypatch.setattr(rendering, "TEMPLATE_DIR", rendering.TEMPLATE_DIR.parent / "no-such-dir")
    repo, channel = FakeDeliveries(), ScriptedChannel(["sent"])
    with pytest.raises(InvalidInput) as err:
        _send(repo, channel)
    assert err.value.field == "template"
    assert channel.accepted == [] and repo.rows == {}
    monkeypatch.setattr(rendering, "_env", None)


def test_sandbox_blocks_template_access_to_python_internals() -> None:
    from jinja2.exceptions import SecurityError

    from messenger.domain.rendering import _environment

    env = _environment()
    with pytest.raises(SecurityError):
        env.from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}").render()
