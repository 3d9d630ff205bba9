"""The built-in journeys' catalogue entries, as data. Pure domain: the service reads the
files (`builtin_journeys/<name>.json` and `builtin_journeys/templates/`), this turns
them into a journey body and ordinary messages that the shop then owns and may edit.

A template file holds one message in one locale, in sections:

    [subject]
    ...
    [text]
    ...
    [line]
    ...
    [sms]
    ...

(`[html]` optional: else the text's paragraphs, with the `.txt` includes as `.html`).
The stored message holds both locales, chosen per person by the `locale` the renderer
passes: `{% if locale == "en" %}…{% else %}…{% endif %}`, so the shop edits one message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from messenger.channels.names import CHANNELS
from messenger.domain.message import EmailContent, LineContent, Message, SmsContent

LOCALES = ("ja", "en")
_, LINE_SECTION, SMS_SECTION = CHANNELS
"""The short texts' sections are named after their channels (the domain's names)."""
REQUIRED = ("subject", "text", LINE_SECTION, SMS_SECTION)
SECTIONS = ("subject", "html", "text", LINE_SECTION, SMS_SECTION)
_SECTION = re.compile(r"^\[(" + "|".join(SECTIONS) + r")\]\s*$", re.MULTILINE)

SEGMENTER_BUILTIN_SEGMENTS = frozenset(
    {"dormant", "subscribers_never_bought", "rfm_dormant", "f1_not_converted", "cart_abandoned"}
)
"""Segments the segmenter keeps in every shop (its built-ins): a built-in journey may be
triggered by one before the messenger has seen anyone enter it."""


@dataclass(frozen=True)
class BuiltinMessage:
    message_id: str
    name: str
    category: str
    recommendations: int
    priority: int
    locales: Mapping[str, Mapping[str, str]]
    """Locale → section → template text."""


@dataclass(frozen=True)
class BuiltinJourney:
    name: str
    title: Mapping[str, str]
    description: str
    journey: Mapping[str, Any]
    """The journey JSON (its `journey_id` is the name)."""
    messages: tuple[BuiltinMessage, ...]
    coupon_pool: Mapping[str, str] | None = None
    """A signed pool the journey gives codes from, created on enabling if missing."""

    @property
    def topic(self) -> str | None:
        topic = self.journey.get("topic")
        return str(topic) if topic else None


def parse_sections(text: str, where: str) -> dict[str, str]:
    """A template file's sections; subject, text, line and sms are required."""
    parts = _SECTION.split(text)
    found = {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)}
    missing = [s for s in REQUIRED if not found.get(s, "").strip()]
    if missing:
        raise ValueError(f"{where}: missing sections {missing}")
    if "html" not in found:
        found["html"] = html_of(found["text"])
    return found


def html_of(text: str) -> str:
    """The mail's HTML from its text: one paragraph per blank-line block, lines broken."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        if "{% include '_recommendations.txt' %}" in block:
            paragraphs.append(block.replace("_recommendations.txt", "_recommendations.html"))
        else:
            paragraphs.append("<p>" + block.replace("\n", "<br>\n") + "</p>")
    return "\n".join(paragraphs)


def by_locale(texts: Mapping[str, str]) -> str:
    """One template for every locale: English for `en`, Japanese otherwise."""
    return '{% if locale == "en" %}' + texts["en"] + "{% else %}" + texts["ja"] + "{% endif %}"


def to_message(shop_id: str, m: BuiltinMessage) -> Message:
    def section(name: str) -> str:
        return by_locale({loc: m.locales[loc][name] for loc in LOCALES})

    return Message(
        message_id=m.message_id,
        shop_id=shop_id,
        name=m.name,
        category=m.category,
        priority=m.priority,
        email=EmailContent(subject=section("subject"), html=section("html"), text=section("text")),
        line=LineContent(text=section(LINE_SECTION)),
        sms=SmsContent(text=section(SMS_SECTION)),
        recommendations=m.recommendations,
    )
