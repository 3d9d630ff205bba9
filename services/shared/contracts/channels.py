"""The channels' names as the services exchange them: the one spelling of "email",
"line" and "sms" outside the messenger's channel modules.

Plain names with no imports, so any domain can read them. What a channel does (its
addresses, payloads, limits) is the messenger's (`messenger/channels/`); the other
services only name one: a consent, a restock sign-up, a per-channel cost.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Channel = Literal["email", "line", "sms"]
EMAIL: Final = "email"
LINE: Final = "line"
SMS: Final = "sms"
CHANNELS: tuple[Channel, ...] = get_args(Channel)
"""Every channel, in the order a message lists its content."""
