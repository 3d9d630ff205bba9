"""Coupon pools, their codes and the codes given."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from messenger.domain.coupon_rules import MAX_UPLOAD, POOL_ID, PREFIX
from messenger.entrypoints.schemas.common import In, Out
from shared.http.types import Schema

if TYPE_CHECKING:  # the domain types a body converts to or from: loaded on first use
    from messenger.domain.coupons import CouponPool, Given
    from messenger.services.coupons import CodeCheck, PoolStats


class CouponPoolCreate(In):
    pool_id: str = Field(pattern=POOL_ID.pattern)
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["uploaded", "signed"] = "uploaded"
    """`uploaded`: the shop's own codes (JSON or CSV); `signed`: Kizuna makes each code."""
    prefix: str = Field(default="", pattern=PREFIX.pattern)
    """Signed pools: the code's first characters, e.g. `BDAY`."""
    description: str | None = Field(default=None, max_length=500)

    def to_domain(self, shop_id: str, now: datetime) -> CouponPool:
        from messenger.domain.coupons import CouponPool, PoolKind

        return CouponPool(
            shop_id=shop_id,
            pool_id=self.pool_id,
            name=self.name,
            kind=PoolKind(self.kind),
            created_at=now,
            prefix=self.prefix,
            description=self.description,
        )


class CouponPoolPublic(Schema):
    pool_id: str
    name: str
    kind: str
    prefix: str
    description: str | None
    created_at: datetime
    free: int | None
    """Codes nobody has yet; null for a signed pool."""

    @classmethod
    def of(cls, s: PoolStats) -> CouponPoolPublic:
        p = s.pool
        return cls(
            pool_id=p.pool_id,
            name=p.name,
            kind=p.kind.value,
            prefix=p.prefix,
            description=p.description,
            created_at=p.created_at,
            free=s.free,
        )


class CouponCodesUpload(In):
    codes: list[str] = Field(min_length=1, max_length=MAX_UPLOAD)


class CouponUploadPublic(Out):
    added: int
    duplicates: list[str]


class CouponGiveCreate(In):
    customer_id: str = Field(min_length=1, max_length=128)
    anchor: str = Field(min_length=1, max_length=128)
    """With the pool and the customer, what makes the code theirs (e.g. `birthday-2026`)."""


class CouponGivenPublic(Schema):
    code: str | None
    status: str

    @classmethod
    def of(cls, g: Given) -> CouponGivenPublic:
        return cls(code=g.code, status=g.status.value)


class CouponCodePublic(Schema):
    code: str
    pool_id: str
    signature_valid: bool | None
    status: str | None
    customer_id: str | None
    assigned_at: datetime | None
    redeemed_at: datetime | None
    order_id: str | None

    @classmethod
    def of(cls, c: CodeCheck) -> CouponCodePublic:
        r = c.record
        return cls(
            code=c.code,
            pool_id=c.pool_id,
            signature_valid=c.signature_valid,
            status=c.status.value if c.status else None,
            customer_id=r.customer_id if r else None,
            assigned_at=r.assigned_at if r else None,
            redeemed_at=r.redeemed_at if r else None,
            order_id=r.order_id if r else None,
        )
