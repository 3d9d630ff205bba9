"""Per-person coupon codes (the birthday and win-back offers). Pure domain.

A shop keeps codes in pools. A pool is either ``uploaded`` (the shop's own codes, from its
cart system, sent as JSON or CSV) or ``signed`` (Kizuna makes each code: a body derived
from the pool, the customer and the anchor, and a tag that is an HMAC of the body under
the shop's key, so a code can be checked without a lookup and cannot be guessed).

A code is given to exactly one person: the give is a conditional write on the code and
on the (pool, customer, anchor) assignment, so asking again for the same person and
anchor returns the same code, and two people never share one. A redemption comes back
through `order.placed`'s coupon and marks the code redeemed (once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from messenger.domain.coupon_rules import CODE, MAX_UPLOAD, POOL_ID, PREFIX
from shared.errors import InvalidInput

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""Base32 without I, O, 0 and 1, which people misread when they type a code."""
_BODY, _TAG = 10, 6


class PoolKind(StrEnum):
    UPLOADED = "uploaded"
    SIGNED = "signed"


class CodeStatus(StrEnum):
    FREE = "free"
    ASSIGNED = "assigned"
    REDEEMED = "redeemed"


@dataclass(frozen=True)
class CouponPool:
    shop_id: str
    pool_id: str
    name: str
    kind: PoolKind
    created_at: datetime
    prefix: str = ""
    """Signed pools: the code's first characters (e.g. ``BDAY``)."""
    description: str | None = None
    """What the coupon gives, for templates (``{{ coupon.description }}``)."""

    def validate(self) -> None:
        if not POOL_ID.fullmatch(self.pool_id):
            raise InvalidInput("pool_id is 1-64 letters, digits, '-' or '_'", field="pool_id")
        if not self.name.strip():
            raise InvalidInput("name must not be empty", field="name")
        if not PREFIX.fullmatch(self.prefix):
            raise InvalidInput("prefix is up to 12 capital letters or digits", field="prefix")


@dataclass(frozen=True)
class CouponCode:
    shop_id: str
    pool_id: str
    code: str
    status: CodeStatus
    customer_id: str | None = None
    anchor: str | None = None
    assigned_at: datetime | None = None
    redeemed_at: datetime | None = None
    order_id: str | None = None
    redeemed_by: str | None = None
    """Who placed the order with it (normally the person it was given to)."""


class GiveStatus(StrEnum):
    GIVEN = "given"
    ALREADY_GIVEN = "already_given"
    """The same (pool, customer, anchor) asked again: the code given the first time."""
    EXHAUSTED = "exhausted"
    """No free code is left in the pool: nobody got one, nobody got someone else's."""


@dataclass(frozen=True)
class Given:
    status: GiveStatus
    code: str | None

    @property
    def variables(self) -> dict[str, str]:
        """What a send passes on so that ``{{ coupon.code }}`` reads the code."""
        return {"coupon_code": self.code} if self.code else {}


def check_codes(codes: list[str]) -> list[str]:
    """Uploaded codes, stripped, each valid; repeats within the upload dropped (in order)."""
    if not codes:
        raise InvalidInput("no codes to upload", field="codes")
    if len(codes) > MAX_UPLOAD:
        raise InvalidInput(f"at most {MAX_UPLOAD} codes per upload", field="codes")
    seen: dict[str, None] = {}
    for i, raw in enumerate(codes):
        code = raw.strip()
        if not CODE.fullmatch(code):
            raise InvalidInput(
                "a code is 1-64 letters, digits, '-' or '_', starting with a letter or digit",
                field=f"codes.{i}",
            )
        seen.setdefault(code, None)
    return list(seen)


def codes_from_csv(text: str) -> list[str]:
    """The codes of a CSV upload: the first column, one code a line; a header line whose
    first cell is ``code`` is skipped, and so are blank lines."""
    codes = []
    for n, line in enumerate(text.splitlines()):
        cell = line.split(",", 1)[0].strip().strip('"').strip()
        if not cell or (n == 0 and cell.lower() == "code"):
            continue
        codes.append(cell)
    return codes


def shop_key(secret: str, shop_id: str) -> bytes:
    """The shop's own coupon key, derived from the deployment's signing secret: one shop's
    codes never verify in another shop."""
    return hmac.new(secret.encode(), f"kizuna.coupon.v1|{shop_id}".encode(), "sha256").digest()


def _letters(digest: bytes, n: int) -> str:
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:n])


def _tag(key: bytes, pool_id: str, body: str) -> str:
    return _letters(hmac.new(key, f"tag|{pool_id}|{body}".encode(), hashlib.sha256).digest(), _TAG)


def signed_code(key: bytes, pool: CouponPool, customer_id: str, anchor: str) -> str:
    """The signed pool's code for this person and anchor (the same on every ask)."""
    raw = hmac.new(key, f"body|{pool.pool_id}|{customer_id}|{anchor}".encode(), hashlib.sha256)
    body = _letters(raw.digest(), _BODY)
    head = f"{pool.prefix}-" if pool.prefix else ""
    return f"{head}{body}-{_tag(key, pool.pool_id, body)}"


def verify_signed(key: bytes, pool: CouponPool, code: str) -> bool:
    """Whether the code was made by this shop's signed pool (constant-time tag check)."""
    head = f"{pool.prefix}-" if pool.prefix else ""
    if not code.startswith(head):
        return False
    body, dash, tag = code[len(head) :].partition("-")
    if not dash or len(body) != _BODY or len(tag) != _TAG:
        return False
    return hmac.compare_digest(tag, _tag(key, pool.pool_id, body))


def code_fingerprint(code: str) -> str:
    """A code's stand-in in logs (a code is as good as money)."""
    return base64.b32encode(hashlib.sha256(code.encode()).digest()[:5]).decode()


class AssignResult(StrEnum):
    ASSIGNED = "assigned"
    CODE_TAKEN = "code_taken"
    """Someone else got this code first (or it was never free): try another one."""
    ALREADY_GIVEN = "already_given"
    """This (pool, customer, anchor) already has its code."""
    CONFLICT = "conflict"
    """A concurrent transaction on the same items: try again."""
