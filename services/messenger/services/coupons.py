"""Coupon pools: create, upload codes (JSON or CSV), give one code to one person, check a
code, and mark it redeemed when `order.placed` carries it.

`give` is what the birthday and win-back journeys call before their send: it returns the
person's code for (pool, anchor), the same on every ask, and its `variables` put the code
where templates read ``{{ coupon.code }}``. An exhausted pool is an outcome
(`GiveStatus.EXHAUSTED`), never someone else's code.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from messenger.domain.coupons import (
    AssignResult,
    CodeStatus,
    CouponCode,
    CouponPool,
    Given,
    GiveStatus,
    PoolKind,
    check_codes,
    code_fingerprint,
    codes_from_csv,
    shop_key,
    signed_code,
    verify_signed,
)
from messenger.services.ports import CouponRepository
from shared.errors import Conflict, DependencyFailed, InvalidInput, NotFound
from shared.log import get_logger

_log = get_logger("kizuna.messenger.coupons")
_CANDIDATES = 25
"""Free codes read per try; each claimer picks one at random, so concurrent claimers
rarely reach for the same code."""
_MAX_TRIES = 200


@dataclass(frozen=True)
class PoolStats:
    pool: CouponPool
    free: int | None
    """Codes nobody has yet (None for a signed pool, which makes its codes)."""


@dataclass(frozen=True)
class Uploaded:
    added: int
    duplicates: list[str]
    """Codes the shop already had (in this pool or another): not added again."""


@dataclass(frozen=True)
class CodeCheck:
    code: str
    pool_id: str
    signature_valid: bool | None
    """Signed pools: whether the code's tag verifies under the shop's key."""
    status: CodeStatus | None
    """None: nobody was given this code (or it is not the shop's)."""
    record: CouponCode | None


@dataclass(frozen=True)
class Coupons:
    repo: CouponRepository
    secret: str
    clock: Callable[[], datetime]
    rng: random.Random = field(default_factory=random.Random)

    def create_pool(self, pool: CouponPool) -> PoolStats:
        pool.validate()
        if not self.repo.create_pool(pool):
            raise Conflict(f"pool {pool.pool_id!r} exists", field="pool_id")
        return PoolStats(pool, 0 if pool.kind is PoolKind.UPLOADED else None)

    def pool(self, shop_id: str, pool_id: str) -> CouponPool:
        found = self.repo.get_pool(shop_id, pool_id)
        if found is None:
            raise NotFound(f"no coupon pool {pool_id!r}", field="pool_id")
        return found

    def has_pool(self, shop_id: str, pool_id: str) -> bool:
        return self.repo.get_pool(shop_id, pool_id) is not None

    def stats(self, shop_id: str, pool_id: str) -> PoolStats:
        pool = self.pool(shop_id, pool_id)
        free = self.repo.count_free(shop_id, pool_id) if pool.kind is PoolKind.UPLOADED else None
        return PoolStats(pool, free)

    def upload(self, shop_id: str, pool_id: str, codes: list[str]) -> Uploaded:
        """Add the shop's codes to an uploaded pool; a code the shop already has is
        reported, not added twice (so an upload can be retried as a whole)."""
        pool = self.pool(shop_id, pool_id)
        if pool.kind is not PoolKind.UPLOADED:
            raise Conflict("a signed pool makes its own codes", field="pool_id")
        kept = check_codes(codes)
        duplicates = [c for c in kept if not self.repo.add_code(shop_id, pool_id, c)]
        return Uploaded(len(kept) - len(duplicates), duplicates)

    def upload_csv(self, shop_id: str, pool_id: str, raw: bytes) -> Uploaded:
        """A CSV upload (UTF-8, a BOM allowed): the codes in its first column."""
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("the CSV is not UTF-8", field="codes") from None
        return self.upload(shop_id, pool_id, codes_from_csv(text))

    def give(self, shop_id: str, pool_id: str, customer_id: str, anchor: str) -> Given:
        """The person's code for this anchor (e.g. their birthday year): given once, the
        same code on every later ask; `exhausted` when no code is left."""
        if not customer_id or not anchor:
            raise InvalidInput("customer_id and anchor are required", field="customer_id")
        pool = self.pool(shop_id, pool_id)
        known = self.repo.given(shop_id, pool_id, customer_id, anchor)
        if known is not None:
            return Given(GiveStatus.ALREADY_GIVEN, known)
        if pool.kind is PoolKind.SIGNED:
            return self._give_signed(pool, customer_id, anchor)
        for _ in range(_MAX_TRIES):
            candidates = self.repo.free_codes(shop_id, pool_id, _CANDIDATES)
            if not candidates:
                known = self.repo.given(shop_id, pool_id, customer_id, anchor)
                if known is not None:  # a concurrent ask for the same person won
                    return Given(GiveStatus.ALREADY_GIVEN, known)
                _log.info("coupon pool exhausted", extra={"shop": shop_id, "pool": pool_id})
                return Given(GiveStatus.EXHAUSTED, None)
            code = self.rng.choice(candidates)
            result = self.repo.assign(pool, code, customer_id, anchor, self.clock())
            if result is AssignResult.ASSIGNED:
                _log.info(
                    "coupon given",
                    extra={"shop": shop_id, "pool": pool_id, "code": code_fingerprint(code)},
                )
                return Given(GiveStatus.GIVEN, code)
            if result is AssignResult.ALREADY_GIVEN:
                return Given(
                    GiveStatus.ALREADY_GIVEN,
                    self.repo.given(shop_id, pool_id, customer_id, anchor),
                )
        raise DependencyFailed("coupon pool too contended; try again", field="pool_id")

    def _give_signed(self, pool: CouponPool, customer_id: str, anchor: str) -> Given:
        code = signed_code(shop_key(self.secret, pool.shop_id), pool, customer_id, anchor)
        result = self.repo.assign(pool, code, customer_id, anchor, self.clock())
        if result is AssignResult.ASSIGNED:
            return Given(GiveStatus.GIVEN, code)
        known = self.repo.given(pool.shop_id, pool.pool_id, customer_id, anchor)
        if known is None:
            raise Conflict("the signed code is taken; try again", field="pool_id")
        return Given(GiveStatus.ALREADY_GIVEN, known)

    def give_or_conflict(self, shop_id: str, pool_id: str, customer_id: str, anchor: str) -> Given:
        """`give` for the API: an exhausted pool is a 409 naming the pool."""
        given = self.give(shop_id, pool_id, customer_id, anchor)
        if given.status is GiveStatus.EXHAUSTED:
            raise Conflict(f"coupon pool {pool_id!r} has no free code left", field="pool_id")
        return given

    def check(self, shop_id: str, pool_id: str, code: str) -> CodeCheck:
        """What Kizuna knows of a code: its signature (signed pools) and its status."""
        pool = self.pool(shop_id, pool_id)
        record = self.repo.get_code(shop_id, code)
        if record is not None and record.pool_id != pool_id:
            record = None
        signed = (
            verify_signed(shop_key(self.secret, shop_id), pool, code)
            if pool.kind is PoolKind.SIGNED
            else None
        )
        return CodeCheck(code, pool_id, signed, record.status if record else None, record)

    def redeemed(self, shop_id: str, code: str, order_id: str, customer_id: str) -> bool:
        """`order.placed` with a coupon: the code is marked redeemed once (a replayed or
        second order changes nothing). Codes Kizuna never gave are left alone."""
        done = self.repo.redeem(shop_id, code, order_id, customer_id, self.clock())
        if done:
            _log.info(
                "coupon redeemed",
                extra={"shop": shop_id, "code": code_fingerprint(code), "order_id": order_id},
            )
        return done
