"""The pure feedback domain: preferences from answers, form parsing, NPS, waves."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from feedback.domain import restock as rd
from feedback.domain.results import nps_of
from feedback.domain.surveys import Survey, answers_from_form, define_survey, preferences_of
from feedback.domain.tokens import TokenExpired, TokenInvalid, read, sign
from shared.errors import InvalidInput
from tests.feedback.conftest import SURVEY

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def _survey() -> Survey:
    return define_survey("s", "why-bought", 1, SURVEY["title"], SURVEY["questions"], NOW)


def test_preferences_are_the_union_of_chosen_options() -> None:
    prefs = preferences_of(_survey(), {"q1": "gift", "q2": ("fragrance", "none"), "q3": 4})
    assert prefs == {"dislike": ["fragrance"], "motive": ["gift"]}


def test_form_fields_become_typed_answers() -> None:
    form = [("version", "1"), ("q.q1", "gift"), ("q.q2", "fragrance"), ("q.q2", "alcohol")]
    form += [("q.q3", "4"), ("q.q4", "x"), ("q.q5", "こんにちは")]
    assert answers_from_form(_survey(), form) == {
        "q1": "gift",
        "q2": ["fragrance", "alcohol"],
        "q3": 4,
        "q4": "x",  # left for validation to refuse, naming answers.q4
        "q5": "こんにちは",
    }


@pytest.mark.parametrize(
    ("scores", "expected"),
    [([10, 9, 8, 0], 25.0), ([6, 6], -100.0), ([7, 8], 0.0), ([], None)],
)
def test_nps(scores: list[int], expected: float | None) -> None:
    assert nps_of(scores)["score"] == expected


def test_tokens_detect_tampering_purpose_and_expiry() -> None:
    token = sign("k" * 32, "early-access", ["a", "b"], NOW + timedelta(hours=1))
    assert read("k" * 32, "early-access", token, NOW, size=2)[0] == ["a", "b"]
    with pytest.raises(TokenInvalid):
        read("k" * 32, "survey", token, NOW, size=2)  # another purpose
    with pytest.raises(TokenInvalid):
        read("x" * 32, "early-access", token, NOW, size=2)  # another secret
    with pytest.raises(TokenExpired):
        read("k" * 32, "early-access", token, NOW + timedelta(hours=1), size=2)


def test_same_address_same_signup_id_and_no_personal_data_in_it() -> None:
    a = rd.recipient_for("email", email="Hanako@Example.jp")
    b = rd.recipient_for("email", email="hanako@example.jp")
    assert rd.signup_id_for("SKU", "email", a) == rd.signup_id_for("SKU", "email", b)
    assert "hanako" not in rd.signup_id_for("SKU", "email", a)
    with pytest.raises(InvalidInput) as err:
        rd.recipient_for("sms", phone="03-1234")
    assert err.value.field == "phone"


def test_waves_follow_stock_and_window() -> None:
    release = rd.start_release("s", "e1", "SKU", 3, NOW, timedelta(hours=24))
    assert rd.next_wave(release, 3, NOW, 2.0).size == 6
    assert rd.next_wave(release, 1, NOW, 0.1).size == 1
    assert rd.next_wave(release, 0, NOW, 2.0).status == "sold_out"
    later = replace(release, next_wave_at=NOW + timedelta(minutes=15))
    assert rd.next_wave(later, 3, NOW, 2.0).action == "wait"
    assert rd.next_wave(release, 3, NOW + timedelta(hours=24), 2.0).status == "closed"
    claimed = rd.claim_wave(release, NOW, timedelta(minutes=15))
    assert (claimed.waves, claimed.next_wave_at) == (1, NOW + timedelta(minutes=15))
    assert rd.next_wave(claimed, 3, NOW, 2.0).action == "wait"
