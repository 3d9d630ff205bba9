"""In-memory fakes that subclass the messenger's real ports."""

from __future__ import annotations

from collections.abc import Sequence

from messenger.channels.base import Channel, OutboundMessage, SendResult, SendStatus
from shared.adapters.eventbridge import EventPublisher
from shared.contracts.envelope import EventEnvelope


class ScriptedChannel(Channel):
    """Answers each send with the next scripted status; 'crash' raises after accepting."""

    name = "email"
    supports_html = True
    supports_subject = True

    def __init__(self, script: Sequence[str]) -> None:
        self.script = list(script)
        self.accepted: list[OutboundMessage] = []

    def send(self, message: OutboundMessage) -> SendResult:
        step = self.script.pop(0) if self.script else "sent"
        if step in ("sent", "crash"):
            self.accepted.append(message)
        if step == "crash":
            raise SystemExit("process died after the provider accepted the mail")
        if step == "sent":
            return SendResult(SendStatus.SENT, provider_message_id=f"m-{len(self.accepted)}")
        return SendResult(SendStatus(step), error="scripted")


class RecordingPublisher(EventPublisher):
    def __init__(self) -> None:
        self.published: list[EventEnvelope] = []

    def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        self.published.extend(envelopes)
