"""A shop's own LINE Official Account: the Messaging API channel it connected.

Each shop talks to its LINE friends through its own channel (its own channel id,
channel secret and channel access token). LINE user ids are issued per provider, so a
user id the shop collected only means something to the shop's own channel. Pure
domain: no AWS, no HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shared.errors import InvalidInput

_CHANNEL_ID = re.compile(r"^[0-9]{8,16}$")
_CHANNEL_SECRET = re.compile(r"^[0-9a-fA-F]{32}$")
_ACCESS_TOKEN = re.compile(r"^[A-Za-z0-9+/=._-]{32,2048}$")
"""Long-lived tokens are base64 (172 characters); v2.1 and stateless tokens are JWT-like."""


@dataclass(frozen=True)
class LineCredentials:
    """What Kizuna needs to speak as the shop's LINE channel. The secret and the token
    stay out of `repr`, so a careless log line or traceback cannot show them."""

    channel_id: str
    channel_secret: str = field(repr=False)
    """Signs the channel's webhooks (`X-Line-Signature`)."""
    channel_access_token: str = field(repr=False)
    """Authorizes pushes and multicasts to the channel's friends."""
    connected_at: datetime | None = None

    def validate(self) -> None:
        """The shapes LINE issues; the message never quotes the value."""
        if not _CHANNEL_ID.match(self.channel_id):
            raise InvalidInput(
                "channel_id is the channel's numeric id (Basic settings in the LINE "
                "Developers console)",
                field="channel_id",
            )
        if not _CHANNEL_SECRET.match(self.channel_secret):
            raise InvalidInput(
                "channel_secret is the 32 hexadecimal characters under Basic settings in "
                "the LINE Developers console",
                field="channel_secret",
            )
        if not _ACCESS_TOKEN.match(self.channel_access_token):
            raise InvalidInput(
                "channel_access_token is the channel access token issued under Messaging "
                "API in the LINE Developers console (32-2048 characters, no spaces)",
                field="channel_access_token",
            )


class LineRoute(StrEnum):
    """How a shop's LINE messages go out (what `GET /v1/messenger/line-channel` reports)."""

    OWN_CHANNEL = "own_channel"
    PLATFORM_CHANNEL = "platform_channel"
    NONE = "none"
    """No channel: LINE is skipped and the policy's next channel carries the message."""
