"""Every channel the messenger has, by name: the one place a new channel is listed.

The pipeline asks a channel's class what is per-channel (address checks, suppression,
the payload), so adding a channel is its module, a line here, and the contract test.
"""

from __future__ import annotations

from messenger.channels.base import Channel
from messenger.channels.email import EmailChannel
from messenger.channels.line import LineChannel
from messenger.channels.sms import SmsChannel
from shared.errors import InvalidInput

KINDS: dict[str, type[Channel]] = {c.name: c for c in (EmailChannel, LineChannel, SmsChannel)}
EMAIL, LINE, SMS = EmailChannel.name, LineChannel.name, SmsChannel.name


def kind(name: str) -> type[Channel]:
    """The class of the channel called `name` (a name checked against the domain's list)."""
    return KINDS[name]


def check_address(channel: str, to: str) -> None:
    """A 422 naming `to` when it is not an address on `channel`."""
    problem = kind(channel).address_problem(to)
    if problem is not None:
        raise InvalidInput(problem, field="to")
