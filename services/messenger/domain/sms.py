"""SMS length as the carrier counts it. Pure: no AWS.

A message that fits the GSM 03.38 alphabet travels as 7-bit septets: 160 in a single
part, 153 per part once it has to be concatenated (the UDH takes the rest). The
extension-table characters (``^{}\\[~]|€`` and form feed) are sent as ESC + char and
count 2, and that pair is never split across parts. Anything else (Japanese, emoji)
forces UCS-2: 70 UTF-16 code units in one part, 67 per concatenated part, and a
surrogate pair (an emoji) is never split either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67
MAX_PARTS = 10
"""The most parts one SMS may take (ten UCS-2 parts: 670 characters of Japanese)."""

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class SmsLength:
    encoding: Encoding
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2)."""
    parts: int
    per_part: int
    """What one part holds at this length: the single-part or the concatenated limit."""


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _unit_sizes(text: str, encoding: Encoding) -> list[int]:
    if encoding == "GSM-7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def sms_length(text: str) -> SmsLength:
    """How many parts a carrier bills for `text`, and in which encoding."""
    encoding: Encoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if encoding == "GSM-7" else (UCS2_SINGLE, UCS2_MULTI)
    sizes = _unit_sizes(text, encoding)
    units = sum(sizes)
    if units <= single:
        return SmsLength(encoding, units, 1 if units else 0, single)
    parts, used = 1, 0
    for size in sizes:  # greedy, never splitting an escape pair or a surrogate pair
        if used + size > multi:
            parts += 1
            used = 0
        used += size
    return SmsLength(encoding, units, parts, multi)
