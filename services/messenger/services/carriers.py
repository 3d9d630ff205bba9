"""Which channel carries a shop's messages: the shop's own LINE channel when it
connected one, else the platform's channel of that name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from messenger.channels.base import Channel
from messenger.channels.kinds import LINE
from messenger.domain.model import Recipient
from messenger.domain.policy import ShopPolicy
from messenger.services.line_accounts import LineAccounts


@dataclass(frozen=True)
class Carriers:
    channels: Mapping[str, Channel]
    """The platform's channels by name (`line` only when the platform has one)."""
    line_accounts: LineAccounts
    """The shops' own LINE channels."""

    def carrier(self, shop_id: str, name: str) -> Channel | None:
        """What carries this shop's messages on `name`: on LINE the shop's own channel,
        else the platform's; None when the shop has no account there."""
        if name == LINE:
            own = self.line_accounts.channel_of(shop_id)
            if own is not None:
                return own
        return self.channels.get(name)

    def unavailable(self, shop_id: str, policy: ShopPolicy, recipient: Recipient) -> frozenset[str]:
        """The policy's channels this shop cannot send on (asked only where the person has
        an address, so a mail-only person costs no LINE lookup)."""
        return frozenset(
            c
            for c in policy.channel_order
            if recipient.address(c) and self.carrier(shop_id, c) is None
        )
