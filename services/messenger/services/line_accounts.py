"""Per-shop LINE channels: connect, disconnect, report, and which channel sends.

A shop connects its own LINE Official Account (`PUT /v1/messenger/line-channel`); its
pushes and multicasts then carry its own channel access token, and its webhook
(`POST /v1/webhooks/line/<shop>`) is verified with its own channel secret. A shop that
has not connected one is sent through the platform's channel when the deployment
configures one (a single-shop deployment, the demo), else LINE is simply not one of its
channels: the policy's next channel carries the message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from messenger.channels.base import Channel
from messenger.domain.line_account import LineCredentials, LineRoute
from messenger.services.ports import LineCredentialStore
from shared import clock as shared_clock
from shared.auth.keys import SHOP_ID_PATTERN
from shared.log import get_logger

_log = get_logger("kizuna.messenger.services.line_accounts")


@dataclass(frozen=True)
class LineChannelStatus:
    """What a shop may see of its LINE connection: never the secret or the token."""

    connected: bool
    channel_id: str | None
    connected_at: datetime | None
    webhook_url: str
    """The URL to enter as the channel's webhook URL in the LINE Developers console."""
    route: LineRoute


class LineAccounts:
    """The shops' own LINE channels, and the channel objects that send through them."""

    def __init__(
        self,
        credentials: LineCredentialStore,
        make_channel: Callable[[str], Channel],
        public_base_url: str,
        clock: Callable[[], datetime] = shared_clock.now,
    ) -> None:
        self._credentials = credentials
        self._make_channel = make_channel
        self._public_base_url = public_base_url.rstrip("/")
        self._clock = clock
        self._channels: dict[str, tuple[str, Channel]] = {}

    def webhook_url(self, shop_id: str) -> str:
        return f"{self._public_base_url}/v1/webhooks/line/{shop_id}"

    def connect(
        self, shop_id: str, credentials: LineCredentials, platform_channel: bool
    ) -> LineChannelStatus:
        """Store the shop's channel (a reconnect replaces it); refused whole if any field
        has the wrong shape, with nothing stored."""
        credentials.validate()
        self._credentials.put(shop_id, replace(credentials, connected_at=self._clock()))
        # A number: the log filter would take a string of digits for a phone number.
        channel_id = int(credentials.channel_id)
        _log.info("line channel connected", extra={"shop": shop_id, "channel_id": channel_id})
        return self.status(shop_id, platform_channel)

    def disconnect(self, shop_id: str, platform_channel: bool) -> LineChannelStatus:
        """Forget the shop's channel (idempotent)."""
        if self._credentials.delete(shop_id):
            _log.info("line channel disconnected", extra={"shop": shop_id})
        self._channels.pop(shop_id, None)
        return self.status(shop_id, platform_channel)

    def status(self, shop_id: str, platform_channel: bool) -> LineChannelStatus:
        """`platform_channel`: whether the deployment has a LINE channel of its own, which
        shops without one send through."""
        own = self._credentials.get(shop_id)
        if own is not None:
            route = LineRoute.OWN_CHANNEL
        else:
            route = LineRoute.PLATFORM_CHANNEL if platform_channel else LineRoute.NONE
        return LineChannelStatus(
            connected=own is not None,
            channel_id=own.channel_id if own else None,
            connected_at=own.connected_at if own else None,
            webhook_url=self.webhook_url(shop_id),
            route=route,
        )

    def channel_of(self, shop_id: str) -> Channel | None:
        """The channel that sends with the shop's own token, or None if it has none. One
        per shop and token, so its HTTP connection and rate limit carry over."""
        own = self._credentials.get(shop_id)
        if own is None:
            self._channels.pop(shop_id, None)
            return None
        built = self._channels.get(shop_id)
        if built is None or built[0] != own.channel_access_token:
            built = (own.channel_access_token, self._make_channel(own.channel_access_token))
            self._channels[shop_id] = built
        return built[1]

    def has_own_channel(self, shop_id: str) -> bool:
        return self._credentials.get(shop_id) is not None

    def secret_of(self, shop_id: str) -> str | None:
        """The shop's channel secret, which signs its webhooks; None for a shop id that
        is malformed or has no channel of its own."""
        if not SHOP_ID_PATTERN.match(shop_id):
            return None
        own = self._credentials.get(shop_id)
        return own.channel_secret if own else None
