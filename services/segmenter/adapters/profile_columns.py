"""Stored profile and activity items, as DynamoDB sends them (attribute values), appended
to `StoredColumns`: the nightly apply step's read, with no profile object per customer.

Each value is read as `codec.profile_from_dict` reads it (a missing or NULL attribute is
None, an empty string instant none either); tests/segmenter/domain/test_stored_columns.py
checks the table against the profile path's. Imported by the nightly only (numpy).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from segmenter.domain.model import TOPIC_PREFIX, active_hour_of
from segmenter.domain.segments.batch import epoch_days, epoch_micros
from segmenter.domain.segments.stored import SetValues, StoredColumns

Value = Mapping[str, Any] | None
"""One attribute value: {"S": …}, {"N": …}, {"M": …}, {"L": …}, {"NULL": true}, …"""


def _text(value: Value) -> str | None:
    return None if value is None else value.get("S")


def _int(value: Value, default: int) -> int:
    if value is None or "N" not in value:
        return default
    text = value["N"]
    return int(text) if text.lstrip("-").isdigit() else int(float(text))


def _number(value: Value) -> str | None:
    return None if value is None else value.get("N")


def _map(value: Value) -> Mapping[str, Any]:
    return {} if value is None else value.get("M") or {}


def _strings(value: Value) -> list[str]:
    if value is None:
        return []
    if "L" in value:
        return [v["S"] for v in value["L"] if "S" in v]
    return list(value.get("SS", ()))


def _instant(value: Value) -> int | None:
    text = _text(value)
    return epoch_micros(datetime.fromisoformat(text)) if text else None


def add_profile(columns: StoredColumns, item: Mapping[str, Any]) -> None:
    """A live profile item's row; a merged-away profile adds nothing."""
    if _text(item.get("merged_into")) is not None:
        return
    c = columns
    row = c.size
    stats = _map(item.get("stats"))
    attrs = _map(item.get("attributes"))
    contact = _map(item.get("contact"))
    c.customer_ids.append(item["customer_id"]["S"])
    c.versions.append(_int(item.get("version"), 0))
    c.timezones.append(_text(attrs.get("timezone")))
    c.order_count.append(_int(stats.get("order_count"), 0))
    c.revenue.append(_number(stats.get("revenue")))
    c.gross_profit.append(_number(stats.get("gross_profit")))
    c.sale_lines.append(_int(stats.get("sale_lines"), 0))
    c.full_price_lines.append(_int(stats.get("full_price_lines"), 0))
    hours = stats.get("order_hours")
    c.active_hour.append(
        None if hours is None else active_hour_of([int(h["N"]) for h in hours["L"]])
    )
    c.first_order_at.append(_instant(stats.get("first_order_at")))
    c.last_order_at.append(_instant(stats.get("last_order_at")))
    c.last_shipped_at.append(_instant(item.get("last_shipped_at")))
    c.last_viewed_at.append(_instant(item.get("last_viewed_at")))
    c.last_carted_at.append(_instant(item.get("last_carted_at")))
    c.created_at.append(_instant(attrs.get("created_at")))
    born = _text(attrs.get("birthday"))
    c.birthday.append(epoch_days(date.fromisoformat(born)) if born else None)
    c.gender.append(_text(attrs.get("gender")))
    c.prefecture.append(_text(attrs.get("prefecture")))
    c.acquisition_channel.append(_text(attrs.get("acquisition_channel")))
    c.first_sales_channel.append(_text(stats.get("first_sales_channel")))
    c.first_offer.append(_text(stats.get("first_offer")))
    c.first_product.append(_text(stats.get("first_product")))
    c.last_sales_channel.append(_text(stats.get("last_sales_channel")))
    c.cart_size.append(len(_strings(item.get("cart_skus"))))
    c.has_email.append(_text(contact.get("email")) is not None)
    c.has_phone.append(_text(contact.get("phone")) is not None)
    c.has_line.append(_text(contact.get("line_user_id")) is not None)
    _add_scores(c, item)
    _add_sets(c, row, item, stats)


def _add_scores(c: StoredColumns, item: Mapping[str, Any]) -> None:
    """The analytics pass's CLV block and last night's RFM score."""
    clv = _map(item.get("clv"))
    if clv:
        value = _number(clv.get("predicted_clv_365d"))
        c.clv.append(
            (
                float(clv["p_alive"]["N"]),
                float(clv["expected_purchases_90d"]["N"]),
                float(clv["expected_purchases_365d"]["N"]),
                None if value is None else float(value),
                epoch_micros(datetime.fromisoformat(clv["predicted_next_order_at"]["S"])),
            )
        )
    else:
        c.clv.append(None)
    rfm = _map(item.get("rfm"))
    c.rfm.append(
        (
            _int(rfm["r"], 0),
            _int(rfm["f"], 0),
            _int(rfm["m"], 0),
            rfm["rank"]["S"],
        )
        if rfm
        else None
    )


def _add_sets(
    c: StoredColumns, row: int, item: Mapping[str, Any], stats: Mapping[str, Any]
) -> None:
    c.categories.add(row, _strings(stats.get("categories")))
    c.skus.add(row, _strings(stats.get("skus")))
    c.tags.add(row, _strings(item.get("tags")))
    c.segments.add(row, _strings(item.get("segments")))
    granted, left = [], []
    for value in (item.get("consents") or {}).get("L", ()):
        consent = value["M"]
        category = consent["category"]["S"]
        if consent["granted"].get("BOOL"):
            if _text(consent.get("source")):
                granted.append(f"{consent['channel']['S']}:{category}")
        elif category.startswith(TOPIC_PREFIX):
            left.append(category.removeprefix(TOPIC_PREFIX))
    c.consents.add(row, granted)
    c.unsubscribed_topics.add(row, left)
    for name, answers in _map(item.get("preferences")).items():
        c.preferences.setdefault(name, SetValues()).add(row, _strings(answers))


def add_activities(columns: StoredColumns, item: Mapping[str, Any]) -> None:
    """An activity item's lines (one order's, or one event's), for its customer."""
    owner = item["customer_id"]["S"]
    kind = item["kind"]["S"]
    at = epoch_micros(datetime.fromisoformat(item["at"]["S"]))
    c = columns
    for value in (item.get("acts") or {}).get("L", ()):
        line = value["M"]
        c.activity_owner.append(owner)
        c.activity_kind.append(kind)
        c.activity_at.append(at)
        c.activity_sku.append(_text(line.get("sku")))
        c.activity_category.append(_text(line.get("cat")))
        c.activity_quantity.append(_int(line.get("q"), 1))
        c.activity_ref.append(_text(line.get("ref")))
