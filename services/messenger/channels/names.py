"""The channels' names and the recipient field that holds each one's address.

Plain strings with no imports, so the pure domain can read them without importing the
channels' code (which imports the domain): the only place outside a channel's own
module where a channel is spelled. `kinds` checks that it lists the same channels.
"""

from __future__ import annotations

EMAIL = "email"
LINE = "line"
SMS = "sms"
CHANNELS = (EMAIL, LINE, SMS)
"""Every channel, in the order a message lists its content."""
ADDRESS_FIELDS = {EMAIL: "email", LINE: "line_user_id", SMS: "phone"}
"""Which of a recipient's fields is their address on each channel."""
