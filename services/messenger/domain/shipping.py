"""Shipping notices: the tracking link of a shipment, per carrier. Pure domain.

`order.shipped` carries the carrier and the tracking number; the notice's template reads
``{{ shipment.carrier_name }}`` (``carrier_name_en``), ``{{ shipment.tracking_number }}`` and
``{{ shipment.tracking_url }}``. The three big Japanese carriers have their public
tracking pages built in; any other carrier uses the shop's own URL template (its policy's
``tracking_url_template``, with ``{number}`` where the number goes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from shared.errors import InvalidInput

SHIPPING_NOTICE = "shipping-notice"
"""The id of the message a shop saves to turn the shipping notice on (transactional)."""
SHIPPING_TRIGGER = "shipping_notice"
NUMBER = "{number}"


@dataclass(frozen=True)
class CarrierInfo:
    name_ja: str
    name_en: str
    tracking_url: str
    """The public tracking page, with ``{number}`` where the tracking number goes."""


CARRIERS: dict[str, CarrierInfo] = {
    "yamato": CarrierInfo(
        "ヤマト運輸",
        "Yamato Transport",
        "https://toi.kuronekoyamato.co.jp/cgi-bin/tneko?number00=1&number01={number}",
    ),
    "sagawa": CarrierInfo(
        "佐川急便",
        "Sagawa Express",
        "https://k2k.sagawa-exp.co.jp/p/web/okurijosearch.do?okurijoNo={number}",
    ),
    "japanpost": CarrierInfo(
        "日本郵便",
        "Japan Post",
        "https://trackings.post.japanpost.jp/services/srv/search/direct"
        "?reqCodeNo1={number}&searchKind=S002&locale=ja",
    ),
}


def check_url_template(template: str | None, field: str = "tracking_url_template") -> None:
    """An https URL with exactly one ``{number}``: the number is URL-quoted into it."""
    if template is None:
        return
    if template.count(NUMBER) != 1:
        raise InvalidInput("the template needs exactly one {number}", field=field)
    parts = urlsplit(template.replace(NUMBER, "0"))
    if parts.scheme != "https" or not parts.netloc:
        raise InvalidInput("the template must be an https URL", field=field)


def tracking_url(carrier: str | None, number: str | None, template: str | None) -> str | None:
    """The page where the customer follows the parcel: the carrier's own, else the shop's
    generic template; None without a number or a page to send them to."""
    if not number:
        return None
    known = CARRIERS.get(carrier or "")
    pattern = known.tracking_url if known is not None else template
    if pattern is None:
        return None
    return pattern.replace(NUMBER, quote(number, safe=""))


def shipment_variables(
    order_id: str,
    carrier: str | None,
    tracking_number: str | None,
    shipped_at: datetime,
    template: str | None,
) -> dict[str, Any]:
    """What a shipping notice's template reads as ``shipment`` (the carrier's name in
    Japanese and English: ``carrier_name`` / ``carrier_name_en``)."""
    known = CARRIERS.get(carrier or "")
    return {
        "shipment": {
            "order_id": order_id,
            "carrier": carrier,
            "carrier_name": known.name_ja if known else carrier,
            "carrier_name_en": known.name_en if known else carrier,
            "tracking_number": tracking_number,
            "tracking_url": tracking_url(carrier, tracking_number, template),
            "shipped_at": shipped_at.isoformat(),
        }
    }
