"""The channels' names and the recipient field that holds each one's address.

The names are the contract's (`shared.contracts.channels`, which the other services
read too), so the messenger and the events it exchanges cannot spell a channel two
ways. No channel code is imported here, so the pure domain can read them without
importing the channels (which import the domain). `kinds` checks that the channel
classes list the same channels.
"""

from __future__ import annotations

from shared.contracts.channels import CHANNELS, EMAIL, LINE, SMS

__all__ = ["ADDRESS_FIELDS", "CHANNELS", "EMAIL", "LINE", "SMS"]

ADDRESS_FIELDS = {EMAIL: "email", LINE: "line_user_id", SMS: "phone"}
"""Which of a recipient's fields is their address on each channel."""
