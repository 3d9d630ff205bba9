"""SMS parts counted as the carrier counts them (GSM-7 vs UCS-2)."""

from __future__ import annotations

from messenger.domain.sms import sms_length


def test_gsm7_fits_160_in_one_part_and_153_per_part_after() -> None:
    assert (sms_length("a" * 160).encoding, sms_length("a" * 160).parts) == ("GSM-7", 1)
    assert sms_length("a" * 161).parts == 2
    assert sms_length("a" * 306).parts == 2
    assert sms_length("a" * 307).parts == 3


def test_gsm7_extension_characters_count_two_and_are_not_split() -> None:
    assert sms_length("€" * 80).units == 160
    assert sms_length("€" * 80).parts == 1
    # 152 septets then an escape pair: the pair moves whole to the next part
    assert sms_length("a" * 152 + "{" + "a" * 10).parts == 2
    assert sms_length("a" * 152 + "{" + "a" * 151).parts == 2
    assert sms_length("a" * 152 + "{" + "a" * 152).parts == 3


def test_japanese_is_ucs2_70_then_67_per_part() -> None:
    assert sms_length("あ" * 70).parts == 1
    assert sms_length("あ" * 70).encoding == "UCS-2"
    assert sms_length("あ" * 71).parts == 2
    assert sms_length("あ" * 134).parts == 2
    assert sms_length("あ" * 135).parts == 3


def test_one_non_gsm_character_switches_the_whole_text_to_ucs2() -> None:
    assert sms_length("a" * 100 + "あ").parts == 2


def test_emoji_take_two_ucs2_units_and_are_not_split() -> None:
    assert sms_length("😀" * 35).units == 70
    assert sms_length("😀" * 35).parts == 1
    assert sms_length("あ" * 66 + "😀" + "あ" * 66).parts == 3  # 134 units, pair kept whole


def test_empty_text_is_zero_parts() -> None:
    assert sms_length("").parts == 0
