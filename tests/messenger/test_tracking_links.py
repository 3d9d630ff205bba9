"""Signed tracking links and the mail/LINE rewriting, pure domain."""

from __future__ import annotations

import base64
import hashlib

import pytest

from messenger.domain.tracking import (
    Postback,
    TrackedDelivery,
    TrackingUrls,
    instrument_html,
    instrument_line,
    read_click,
    read_open,
    read_postback,
    sign_click,
    sign_open,
)
from shared.errors import InvalidInput

SECRET = "s" * 40
D = TrackedDelivery("acme", "d" * 32, "c-1", "email", "spring", "B")
URLS = TrackingUrls("https://k.test", SECRET)


def test_links_round_trip_and_name_campaign_variant_and_person() -> None:
    assert read_open(SECRET, sign_open(SECRET, D)) == D
    click = read_click(SECRET, sign_click(SECRET, D, "https://shop.example/p?a=1&b=2"))
    assert click.delivery == D and click.url == "https://shop.example/p?a=1&b=2"


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        sign_click("another-secret-another-secret-0000", D, "https://shop.example/"),
        sign_open(SECRET, D),  # an open token is not a click token (salted apart)
    ],
)
def test_unsigned_foreign_or_tampered_click_links_are_refused(token: str) -> None:
    with pytest.raises(InvalidInput) as err:
        read_click(SECRET, token)
    assert err.value.field == "token"
    good = sign_click(SECRET, D, "https://shop.example/")
    with pytest.raises(InvalidInput):
        read_click(SECRET, good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"))


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://x/y", "//evil.example", "data:,x"])
def test_only_http_and_https_targets_can_be_tracked(url: str) -> None:
    with pytest.raises(InvalidInput) as err:
        sign_click(SECRET, D, url)
    assert err.value.field == "url"


def test_mail_html_links_are_rewritten_and_the_pixel_added() -> None:
    html = (
        '<html><body><a href="https://shop.example/sale?x=1&amp;y=2">Sale</a>'
        "<a href='mailto:help@shop.example'>help</a>"
        '<a href="https://k.test/u/tok">unsubscribe</a></body></html>'
    )
    out = instrument_html(html, D, URLS)
    assert 'href="https://k.test/t/c/' in out
    assert "mailto:help@shop.example" in out  # not http(s): left alone
    assert 'href="https://k.test/u/tok"' in out  # our own links stay direct
    assert '<img src="https://k.test/t/o/' in out and out.endswith("</body></html>")
    token = out.split("/t/c/")[1].split('"')[0]
    assert read_click(SECRET, token).url == "https://shop.example/sale?x=1&y=2"


def test_line_postback_data_is_signed_without_naming_the_person() -> None:
    messages = [
        {
            "type": "template",
            "altText": "x",
            "template": {
                "type": "buttons",
                "text": "Like it?",
                "actions": [{"type": "postback", "label": "Yes", "data": "like=yes"}],
            },
        }
    ]
    p = Postback("acme", "campaign:spring", "spring", "spring", "A", "")
    out = instrument_line(messages, SECRET, p)
    data = out[0]["template"]["actions"][0]["data"]
    assert len(data) <= 300 and "c-1" not in data
    read = read_postback(SECRET, data)
    assert read is not None and read.data == "like=yes" and read.variant == "A"
    assert read_postback(SECRET, "like=yes") is None  # not ours
    assert read_postback(SECRET, data[:-2] + "xx") is None  # altered


def test_postback_data_too_long_once_signed_is_still_signed_never_sent_untracked() -> None:
    # Given postback data that leaves no room for the signature within LINE's 300
    data = "".join(base64.b64encode(hashlib.sha256(bytes([i])).digest()).decode() for i in range(5))
    messages = [{"type": "text", "text": "x", "quickReply": {"items": [
        {"type": "action", "action": {"type": "postback", "label": "Yes", "data": data}}
    ]}}]  # fmt: skip
    # When the postbacks are signed
    out = instrument_line(messages, SECRET, Postback("acme", "api:m", "a-1", None, None, ""))
    # Then it is signed anyway (the LINE channel refuses the too long body before sending)
    signed = out[0]["quickReply"]["items"][0]["action"]["data"]
    assert len(signed) > 300
    read = read_postback(SECRET, signed)
    assert read is not None and read.data == data
