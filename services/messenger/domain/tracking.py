"""Open and click tracking. Pure domain: no AWS, no HTTP.

- Mail: every ``http(s)`` link of the HTML part is rewritten at render time to a signed
  redirect (``/t/c/<token>``) and a 1×1 open pixel (``/t/o/<token>``) is put before
  ``</body>``. The token names the delivery, the person, the campaign and the variant,
  and (for a click) the target; it is signed with the shop-wide secret, so a tampered or
  unsigned link is refused and never redirects. Only http/https targets are accepted,
  when the link is written and again when it is followed (no ``javascript:`` redirects).
- LINE: a ``postback`` action's ``data`` is wrapped in a signed token naming the trigger,
  the anchor, the campaign and the variant (not the person: LINE's webhook says who
  tapped it, so the same content can go out by multicast). Every postback is signed,
  never sent untracked: LINE's limit of 300 characters for ``data`` applies to the
  signed token, so a message is refused when it is saved if its data leaves no room
  for a campaign's signature (`postback_room`), and the LINE channel refuses (as
  content, without a request) a body whose signed data still came out too long.
"""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeSerializer

from shared.errors import InvalidInput

_SALT_OPEN = "kizuna.track.open.v1"
_SALT_CLICK = "kizuna.track.click.v1"
_SALT_POSTBACK = "kizuna.track.postback.v1"
POSTBACK_PREFIX = "kz1."
LINE_POSTBACK_MAX = 300
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
"""A transparent 1×1 GIF (43 bytes)."""


@dataclass(frozen=True)
class TrackedDelivery:
    """What an open or a click is about."""

    shop_id: str
    delivery_id: str
    customer_id: str
    channel: str
    campaign_id: str | None = None
    variant: str | None = None


@dataclass(frozen=True)
class Click:
    delivery: TrackedDelivery
    url: str


@dataclass(frozen=True)
class Postback:
    """A tapped LINE postback action: who tapped comes from the webhook event."""

    shop_id: str
    trigger: str
    anchor: str
    campaign_id: str | None
    variant: str | None
    data: str


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _payload(d: TrackedDelivery) -> list[str]:
    return [
        d.shop_id,
        d.delivery_id,
        d.customer_id,
        d.channel,
        d.campaign_id or "",
        d.variant or "",
    ]


def _delivery(values: list[Any]) -> TrackedDelivery:
    shop, delivery_id, customer, channel, campaign, variant = (str(v) for v in values)
    return TrackedDelivery(shop, delivery_id, customer, channel, campaign or None, variant or None)


def sign_open(secret: str, d: TrackedDelivery) -> str:
    return str(URLSafeSerializer(secret, salt=_SALT_OPEN).dumps(_payload(d)))


def read_open(secret: str, token: str) -> TrackedDelivery:
    try:
        values = URLSafeSerializer(secret, salt=_SALT_OPEN).loads(token)
        return _delivery(values)
    except (BadSignature, ValueError, TypeError):
        raise InvalidInput("tracking link is invalid or was altered", field="token") from None


def sign_click(secret: str, d: TrackedDelivery, url: str) -> str:
    if not is_web_url(url):
        raise InvalidInput("only http and https links can be tracked", field="url")
    return str(URLSafeSerializer(secret, salt=_SALT_CLICK).dumps([*_payload(d), url]))


def read_click(secret: str, token: str) -> Click:
    try:
        *values, url = URLSafeSerializer(secret, salt=_SALT_CLICK).loads(token)
        click = Click(_delivery(values), str(url))
    except (BadSignature, ValueError, TypeError):
        raise InvalidInput("tracking link is invalid or was altered", field="token") from None
    if not is_web_url(click.url):
        raise InvalidInput("tracking link target is not an http(s) URL", field="token")
    return click


def sign_postback(secret: str, p: Postback) -> str:
    payload = [p.shop_id, p.trigger, p.anchor, p.campaign_id or "", p.variant or "", p.data]
    return POSTBACK_PREFIX + str(URLSafeSerializer(secret, salt=_SALT_POSTBACK).dumps(payload))


def read_postback(secret: str, data: str) -> Postback | None:
    """The signed postback, or None when `data` is not one of ours (or was altered)."""
    if not data.startswith(POSTBACK_PREFIX):
        return None
    try:
        shop, trigger, anchor, campaign, variant, raw = (
            str(v)
            for v in URLSafeSerializer(secret, salt=_SALT_POSTBACK).loads(
                data[len(POSTBACK_PREFIX) :]
            )
        )
    except (BadSignature, ValueError, TypeError):
        return None
    return Postback(shop, trigger, anchor, campaign or None, variant or None, raw)


_REFERENCE_ID = hashlib.sha256(b"kizuna reference campaign").hexdigest()[:32]
REFERENCE_CAMPAIGN_ID_LENGTH = len(_REFERENCE_ID)
"""Postback data is checked, when a message is saved, against the context of a campaign
with an id of this many characters (its trigger, anchor and campaign id) and a variant."""


def signed_postback_length(shop_id: str, data: str) -> int:
    """Characters of `data` once signed for the reference campaign (the secret does not
    change the length)."""
    reference = Postback(
        shop_id, f"campaign:{_REFERENCE_ID}", _REFERENCE_ID, _REFERENCE_ID, "B", data
    )
    return len(sign_postback("reference", reference))


def postback_room(shop_id: str) -> int:
    """How many ASCII characters of postback data fit in LINE's 300 once signed (other
    characters take up to six each: the token carries JSON with escapes)."""
    filler = "".join(
        base64.urlsafe_b64encode(hashlib.sha256(bytes([i])).digest()).decode() for i in range(8)
    )  # hard to compress, like varied data
    room = 0
    while room < LINE_POSTBACK_MAX and (
        signed_postback_length(shop_id, filler[: room + 1]) <= LINE_POSTBACK_MAX
    ):
        room += 1
    return room


@dataclass(frozen=True)
class TrackingUrls:
    """Where tracked links point (the public base URL of the messenger API)."""

    base_url: str
    secret: str

    def open_url(self, d: TrackedDelivery) -> str:
        return f"{self.base_url.rstrip('/')}/t/o/{sign_open(self.secret, d)}.gif"

    def click_url(self, d: TrackedDelivery, url: str) -> str:
        return f"{self.base_url.rstrip('/')}/t/c/{sign_click(self.secret, d, url)}"


def instrument_html(html: str, d: TrackedDelivery, urls: TrackingUrls) -> str:
    """Rewrite each http(s) link to the signed redirect and add the open pixel.

    Links back to Kizuna itself (unsubscribe, survey pages, other tracked links) stay as
    they are: the unsubscribe link must work even where redirects are blocked."""
    own = urls.base_url.rstrip("/") + "/"

    def rewrite(match: re.Match[str]) -> str:
        target = html_lib.unescape(match.group(3)).strip()
        if not is_web_url(target) or target.startswith(own):
            return match.group(0)
        tracked = html_lib.escape(urls.click_url(d, target), quote=True)
        return f"{match.group(1)}{match.group(2)}{tracked}{match.group(2)}"

    rewritten = _HREF.sub(rewrite, html)
    pixel = (
        f'<img src="{html_lib.escape(urls.open_url(d), quote=True)}" width="1" height="1" '
        'alt="" style="display:block;border:0;width:1px;height:1px">'
    )
    if "</body>" in rewritten:
        head, _, tail = rewritten.rpartition("</body>")
        return f"{head}{pixel}</body>{tail}"
    return rewritten + pixel


def instrument_line(
    messages: list[dict[str, Any]], secret: str, p: Postback
) -> list[dict[str, Any]]:
    """Sign every postback action's data (flex buttons, quick replies, templates)."""

    def walk(value: Any) -> Any:
        if isinstance(value, Mapping):
            out = {k: walk(v) for k, v in value.items()}
            if out.get("type") == "postback" and isinstance(out.get("data"), str):
                signed = sign_postback(
                    secret,
                    Postback(p.shop_id, p.trigger, p.anchor, p.campaign_id, p.variant, out["data"]),
                )
                out["data"] = signed
            return out
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return [walk(m) for m in messages]
