"""Profile and order ⇄ plain dicts, the shape they take in DynamoDB (and in tests)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from segmenter.domain.model import (
    Activity,
    Attributes,
    ClvScore,
    Consent,
    Contact,
    Order,
    OrderLine,
    OrderStats,
    Profile,
    RfmScore,
)


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _dec(value: Any) -> Decimal | None:
    return Decimal(value) if value is not None else None


def profile_to_dict(p: Profile) -> dict[str, Any]:
    s = p.stats
    stored: dict[str, Any] = {
        "shop_id": p.shop_id,
        "customer_id": p.customer_id,
        "contact": {
            "email": p.contact.email,
            "phone": p.contact.phone,
            "line_user_id": p.contact.line_user_id,
            "first_name": p.contact.first_name,
            "last_name": p.contact.last_name,
            "locale": p.contact.locale,
        },
        "attributes": {
            "birthday": _iso(p.attributes.birthday),
            "gender": p.attributes.gender,
            "prefecture": p.attributes.prefecture,
            "timezone": p.attributes.timezone,
            "acquisition_channel": p.attributes.acquisition_channel,
            "created_at": _iso(p.attributes.created_at),
        },
        "consents": [
            {
                "channel": c.channel,
                "category": c.category,
                "granted": c.granted,
                "source": c.source,
                "recorded_at": c.recorded_at.isoformat(),
            }
            for c in p.consents
        ],
        "stats": {
            "order_count": s.order_count,
            "first_order_at": _iso(s.first_order_at),
            "last_order_at": _iso(s.last_order_at),
            "revenue": s.revenue,
            "gross_profit": s.gross_profit,
            "categories": sorted(s.categories),
            "skus": sorted(s.skus),
            "sale_lines": s.sale_lines,
            "full_price_lines": s.full_price_lines,
            "order_hours": list(s.order_hours),
            "first_offer": s.first_offer,
            "first_product": s.first_product,
            "first_sales_channel": s.first_sales_channel,
            "last_sales_channel": s.last_sales_channel,
        },
        "latest_activity": {k: at.isoformat() for k, at in sorted(p.latest_activity.items())},
        "last_viewed_at": _iso(p.last_viewed_at),
        "last_carted_at": _iso(p.last_carted_at),
        "cart_skus": list(p.cart_skus),
        "last_shipped_at": _iso(p.last_shipped_at),
        "preferences": {k: sorted(v) for k, v in p.preferences.items()},
        "tags": sorted(p.tags),
        "rfm": {"r": p.rfm.r, "f": p.rfm.f, "m": p.rfm.m, "rank": p.rfm.rank} if p.rfm else None,
        "clv": clv_to_dict(p.clv),
        "segments": sorted(p.segments),
        "identifiers": sorted(p.identifiers),
        "merged_into": p.merged_into,
        "version": p.version,
    }
    if p.merged_ids:  # most profiles never merge: no attribute for them
        stored["merged_ids"] = sorted(p.merged_ids)
    return stored


def profile_from_dict(d: dict[str, Any]) -> Profile:
    contact = d.get("contact") or {}
    attrs = d.get("attributes") or {}
    s = d.get("stats") or {}
    rfm = d.get("rfm")
    return Profile(
        shop_id=d["shop_id"],
        customer_id=d["customer_id"],
        contact=Contact(
            email=contact.get("email"),
            phone=contact.get("phone"),
            line_user_id=contact.get("line_user_id"),
            first_name=contact.get("first_name"),
            last_name=contact.get("last_name"),
            locale=contact.get("locale"),
        ),
        attributes=Attributes(
            birthday=date.fromisoformat(attrs["birthday"]) if attrs.get("birthday") else None,
            gender=attrs.get("gender"),
            prefecture=attrs.get("prefecture"),
            timezone=attrs.get("timezone"),
            acquisition_channel=attrs.get("acquisition_channel"),
            created_at=_dt(attrs.get("created_at")),
        ),
        consents=tuple(
            Consent(
                channel=c["channel"],
                category=c["category"],
                granted=bool(c["granted"]),
                source=c.get("source"),
                recorded_at=datetime.fromisoformat(c["recorded_at"]),
            )
            for c in d.get("consents", [])
        ),
        stats=OrderStats(
            order_count=int(s.get("order_count", 0)),
            first_order_at=_dt(s.get("first_order_at")),
            last_order_at=_dt(s.get("last_order_at")),
            revenue=Decimal(s.get("revenue", 0)),
            gross_profit=Decimal(s.get("gross_profit", 0)),
            categories=frozenset(s.get("categories", [])),
            skus=frozenset(s.get("skus", [])),
            sale_lines=int(s.get("sale_lines", 0)),
            full_price_lines=int(s.get("full_price_lines", 0)),
            order_hours=tuple(int(h) for h in s.get("order_hours", [0] * 24)),
            first_offer=s.get("first_offer"),
            first_product=s.get("first_product"),
            first_sales_channel=s.get("first_sales_channel"),
            last_sales_channel=s.get("last_sales_channel"),
        ),
        latest_activity={
            k: datetime.fromisoformat(at) for k, at in (d.get("latest_activity") or {}).items()
        },
        last_viewed_at=_dt(d.get("last_viewed_at")),
        last_carted_at=_dt(d.get("last_carted_at")),
        cart_skus=tuple(d.get("cart_skus", [])),
        last_shipped_at=_dt(d.get("last_shipped_at")),
        preferences={k: frozenset(v) for k, v in (d.get("preferences") or {}).items()},
        tags=frozenset(d.get("tags") or ()),
        rfm=RfmScore(int(rfm["r"]), int(rfm["f"]), int(rfm["m"]), rfm["rank"]) if rfm else None,
        clv=clv_from_dict(d.get("clv")),
        segments=frozenset(d.get("segments", [])),
        identifiers=frozenset(d.get("identifiers", [])),
        merged_into=d.get("merged_into"),
        merged_ids=frozenset(d.get("merged_ids") or ()),
        version=int(d.get("version", 0)),
    )


def activities_to_dict(activities: Sequence[Activity]) -> list[dict[str, Any]]:
    """One stored activity group (same kind, instant and order or event), short keys."""
    return [{"sku": a.sku, "cat": a.category, "q": a.quantity, "ref": a.ref} for a in activities]


def activities_from_dict(kind: str, at: datetime, rows: Sequence[Any]) -> list[Activity]:
    return [
        Activity(kind, at, r.get("sku"), r.get("cat"), int(r.get("q", 1)), r.get("ref"))
        for r in rows
    ]


def order_to_dict(o: Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "customer_id": o.customer_id,
        "placed_at": o.placed_at.isoformat(),
        "currency": o.currency,
        "total": o.total,
        "sales_channel": o.sales_channel,
        "coupon": o.coupon,
        "status": o.status,
        "shipped_at": _iso(o.shipped_at),
        "delivered_at": _iso(o.delivered_at),
        "refunded": o.refunded,
        "lines": [
            {
                "sku": ln.sku,
                "quantity": ln.quantity,
                "unit_price": ln.unit_price,
                "category": ln.category,
                "list_price": ln.list_price,
                "unit_cost": ln.unit_cost,
                "tags": list(ln.tags),
            }
            for ln in o.lines
        ],
    }


def order_from_dict(d: dict[str, Any]) -> Order:
    return Order(
        order_id=d["order_id"],
        customer_id=d["customer_id"],
        placed_at=datetime.fromisoformat(d["placed_at"]),
        currency=d["currency"],
        total=Decimal(d["total"]),
        sales_channel=d.get("sales_channel"),
        coupon=d.get("coupon"),
        status=d.get("status", "placed"),
        shipped_at=_dt(d.get("shipped_at")),
        delivered_at=_dt(d.get("delivered_at")),
        refunded=Decimal(d.get("refunded", 0)),
        lines=tuple(
            OrderLine(
                sku=ln["sku"],
                quantity=int(ln["quantity"]),
                unit_price=Decimal(ln["unit_price"]),
                category=ln.get("category"),
                list_price=_dec(ln.get("list_price")),
                unit_cost=_dec(ln.get("unit_cost")),
                tags=tuple(ln.get("tags", [])),
            )
            for ln in d.get("lines", [])
        ),
    )


def clv_to_dict(score: ClvScore | None) -> dict[str, Any] | None:
    if score is None:
        return None
    return {
        "p_alive": score.p_alive,
        "expected_purchases_90d": score.expected_purchases_90d,
        "expected_purchases_365d": score.expected_purchases_365d,
        "predicted_clv_365d": score.predicted_clv_365d,
        "predicted_next_order_at": score.predicted_next_order_at.isoformat(),
    }


def clv_from_dict(d: dict[str, Any] | None) -> ClvScore | None:
    if not d:
        return None
    value = d.get("predicted_clv_365d")
    return ClvScore(
        p_alive=float(d["p_alive"]),
        expected_purchases_90d=float(d["expected_purchases_90d"]),
        expected_purchases_365d=float(d["expected_purchases_365d"]),
        predicted_clv_365d=None if value is None else float(value),
        predicted_next_order_at=datetime.fromisoformat(d["predicted_next_order_at"]),
    )
