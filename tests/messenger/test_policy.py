"""Channel choice, quiet hours, active hour and the frequency cap, on the pure domain."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from messenger.domain.message import EmailContent, LineContent, Message, SmsContent
from messenger.domain.model import ConsentState, Recipient, SkipReason
from messenger.domain.policy import (
    JST,
    QuietHours,
    ShopPolicy,
    choose_channels,
    earliest_send_time,
    next_free_slot,
    send_deadline,
)

MSG = Message(
    "m",
    "acme",
    "sale",
    email=EmailContent("s", "<p>h</p>", "t"),
    line=LineContent(text="l"),
    sms=SmsContent("s"),
)


def _person(*opted: str, **kw: object) -> Recipient:
    base: dict[str, object] = {
        "customer_id": "c-1",
        "email": "a@example.jp",
        "first_name": None,
        "last_name": None,
        "locale": "ja",
        "consents": tuple(ConsentState(c, "marketing", True, "form") for c in opted),
        "phone": "+819012345678",
        "line_user_id": "U" + "0" * 32,
    }
    base.update(kw)
    return Recipient(**base)  # type: ignore[arg-type]


def test_policy_order_filtered_by_consent_and_reachability() -> None:
    policy = ShopPolicy(channel_order=("line", "email", "sms"))
    assert choose_channels(MSG, _person("line", "email", "sms"), policy) == (
        ["line", "email", "sms"],
        None,
    )
    blocked = _person("line", "email", unreachable=frozenset({"line"}))
    assert choose_channels(MSG, blocked, policy)[0] == ["email"]
    assert choose_channels(MSG, _person(), policy) == ([], SkipReason.NO_CONSENT)
    unsub = _person("email", unsubscribed=frozenset({("all", "marketing")}))
    assert choose_channels(MSG, unsub, policy) == ([], SkipReason.UNSUBSCRIBED)


def test_transactional_needs_no_marketing_opt_in() -> None:
    receipt = Message("r", "acme", "receipt", category="transactional", sms=SmsContent("x"))
    assert choose_channels(receipt, _person(), ShopPolicy())[0] == ["sms"]


def test_line_and_sms_wait_for_the_end_of_quiet_hours_mail_does_not() -> None:
    late = datetime(2026, 11, 23, 22, 30, tzinfo=JST)
    person = _person("line", "email")
    assert earliest_send_time(late, "line", MSG, person, ShopPolicy()) == datetime(
        2026, 11, 24, 8, 0, tzinfo=JST
    )
    assert earliest_send_time(late, "email", MSG, person, ShopPolicy()) == late
    early = datetime(2026, 11, 23, 7, 59, tzinfo=JST)
    assert earliest_send_time(early, "sms", MSG, person, ShopPolicy()) == datetime(
        2026, 11, 23, 8, 0, tzinfo=JST
    )


def test_quiet_hours_follow_the_customers_time_zone() -> None:
    # 10:00 JST is 02:00 in Paris: LINE waits until 08:00 Paris time
    at = datetime(2026, 11, 23, 10, 0, tzinfo=JST)
    paris = _person("line", timezone="Europe/Paris")
    assert earliest_send_time(at, "line", MSG, paris, ShopPolicy()) == datetime(
        2026, 11, 23, 7, 0, tzinfo=UTC
    )


def test_send_at_active_hour() -> None:
    message = Message("m", "acme", "x", email=MSG.email, send_at_active_hour=True)
    night_owl = _person("email", active_hour=21)
    at = datetime(2026, 11, 23, 10, 0, tzinfo=JST)
    assert earliest_send_time(at, "email", message, night_owl, ShopPolicy()) == datetime(
        2026, 11, 23, 21, 0, tzinfo=JST
    )


def test_cap_allows_n_per_window_then_names_the_next_free_slot() -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    week = timedelta(days=7)
    sent = (now - timedelta(days=6), now - timedelta(days=2), now - timedelta(days=1))
    assert next_free_slot(sent[:2], now, 3, week) is None
    assert next_free_slot(sent, now, 3, week) == sent[0] + week
    old = (now - timedelta(days=8), *sent[1:])
    assert next_free_slot(old, now, 3, week) is None


def test_transactional_skips_quiet_hours_unless_the_shop_asks() -> None:
    late = datetime(2026, 11, 23, 23, 0, tzinfo=JST)
    receipt = replace(MSG, category="transactional")
    person = _person()
    assert earliest_send_time(late, "line", receipt, person, ShopPolicy()) == late
    strict = ShopPolicy(quiet_hours=QuietHours(transactional=True))
    assert earliest_send_time(late, "line", receipt, person, strict) == datetime(
        2026, 11, 24, 8, 0, tzinfo=JST
    )


def test_a_message_without_a_deadline_outlasts_the_wait_for_the_next_slot() -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    week = timedelta(days=7)
    # The next free slot is at most one cap window away...
    full = (now, now, now)
    slot = next_free_slot(full, now, 3, week)
    assert slot == now + week
    # ...and quiet hours after it still fit before the default deadline
    assert send_deadline(now, MSG, ShopPolicy()) == now + week + timedelta(days=2)
    assert send_deadline(now, MSG, ShopPolicy(cap_window=timedelta(days=30))) == now + timedelta(
        days=32
    )
    # A message's own deadline is the marketer's choice
    flash = replace(MSG, valid_for=timedelta(hours=24))
    assert send_deadline(now, flash, ShopPolicy()) == now + timedelta(hours=24)
