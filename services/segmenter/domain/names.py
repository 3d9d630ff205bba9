"""A person's full name split into given and family name, in the order their locale
writes it. Pure domain.

Japanese (and Chinese and Korean) names are written family name first: "鈴木 葵" is
family name 鈴木, given name 葵, so a `{{ customer.last_name }}様` greeting reads 鈴木様.
A Western name is given name first: "Hanako Yamada" is given Hanako, family Yamada.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

FAMILY_FIRST_COUNTRIES = frozenset({"JP", "CN", "KR", "KP", "TW", "HK", "MO"})
"""ISO 3166-1 alpha-2 codes of the countries whose addresses write the family name first."""
_CJK_BLOCKS = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL")


@dataclass(frozen=True)
class PersonName:
    first_name: str | None
    """The given name (名)."""
    last_name: str | None
    """The family name (姓)."""


def is_cjk(text: str) -> bool:
    """True when any letter is Han, kana or Hangul (full-width Latin is not)."""
    for char in text:
        if char.isalpha() and unicodedata.name(char, "").startswith(_CJK_BLOCKS):
            return True
    return False


def family_name_first(full_name: str, country: str | None) -> bool:
    """Family name first for an address in Japan (or China, Korea, Taiwan) or a name
    written in CJK script, wherever the address is."""
    return (country or "").strip().upper() in FAMILY_FIRST_COUNTRIES or is_cjk(full_name)


def split_name(full_name: str, country: str | None = None, max_length: int = 100) -> PersonName:
    """Split on the first space (ASCII or the full-width 　). A name without a space is
    kept whole: as the family name when the family name comes first (so "山田花子様"
    still greets the person), else as the given name."""
    parts = full_name.split(maxsplit=1)
    if not parts:
        return PersonName(None, None)
    head, tail = parts[0], (parts[1].strip() if len(parts) > 1 else "")
    if family_name_first(full_name, country):
        family, given = head, tail
    else:
        given, family = head, tail
    return PersonName(first_name=given[:max_length] or None, last_name=family[:max_length] or None)
