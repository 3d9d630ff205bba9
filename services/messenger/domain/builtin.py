"""Messages shipped with the messenger (not stored per shop): the welcome mail and the
templates other services request through `message.requested`.

Each is an ordinary `Message` whose content includes the shipped files for the
recipient's locale (``templates/<name>.<locale>.{subject.txt,html,txt,short.txt}``), so
they go through the one send path: channel choice (the shop's channel order, falling
back to the channels the person can be reached on: a buyer known only on LINE or by SMS
gets the welcome there), consent, cap, quiet hours, the legal footer for marketing,
tracking, exactly once. Their ids start with ``builtin:``, which
stored message ids cannot (they must start with a letter or digit and have no colon).
"""

from __future__ import annotations

from messenger.domain.message import EmailContent, LineContent, Message, SmsContent

BUILTIN_PREFIX = "builtin:"
WELCOME = "builtin:welcome"

_CATEGORY = {
    "welcome": "marketing",
    "restock_confirm": "transactional",
    "restock_early_access": "marketing",
    "survey_invitation": "marketing",
}
_SHORT = frozenset({"welcome", "restock_confirm", "restock_early_access", "survey_invitation"})
"""Templates that also have a short text for LINE and SMS (every one, so far)."""


def _inc(name: str, suffix: str) -> str:
    return "{% include '" + name + ".' ~ locale ~ '." + suffix + "' %}"


def builtin_names() -> tuple[str, ...]:
    return tuple(_CATEGORY)


def builtin_message(shop_id: str, message_id: str) -> Message | None:
    name = message_id.removeprefix(BUILTIN_PREFIX)
    if not message_id.startswith(BUILTIN_PREFIX) or name not in _CATEGORY:
        return None
    short = _inc(name, "short.txt") if name in _SHORT else None
    return Message(
        message_id=message_id,
        shop_id=shop_id,
        name=name,
        category=_CATEGORY[name],
        priority=10 if name == "welcome" else 5,
        email=EmailContent(
            subject=_inc(name, "subject.txt"), html=_inc(name, "html"), text=_inc(name, "txt")
        ),
        line=LineContent(text=short) if short else None,
        sms=SmsContent(text=short) if short else None,
        # valid_for: the shop's default, so a capped welcome waits for its slot; time-bound
        # requests (an early-access window, a survey's end) carry their own expires_at.
    )
