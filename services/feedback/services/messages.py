"""Builds `message.requested` envelopes: feedback never sends mail, LINE or SMS itself;
it asks the messenger, which owns one module per channel, consent and frequency caps."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from shared.contracts.channels import Channel
from shared.contracts.envelope import EventEnvelope

if TYPE_CHECKING:  # the events' contracts load with the first message asked for
    from shared.contracts.details import Category, MessageRecipient


def message_request(
    *,
    shop_id: str,
    request_id: str,
    recipient: MessageRecipient,
    channel: Channel | None,
    category: Category,
    template: str,
    variables: dict[str, str],
    requested_by: str,
    now: datetime,
    expires_at: datetime | None = None,
    locale: str = "ja",
) -> EventEnvelope:
    """The envelope id is the request id, so a re-published request is the same event."""
    from shared.contracts.details import MessageRequested

    detail = MessageRequested(
        request_id=request_id,
        recipient=recipient,
        channel=channel,
        category=category,
        template=template,
        locale=locale,
        variables=variables,
        expires_at=expires_at,
        requested_by=requested_by,
    )
    return EventEnvelope(
        id=request_id,
        shop=shop_id,
        type="message.requested",
        time=now,
        detail=detail.model_dump(mode="json"),
    )
