"""Historical orders from CSV: Shopify's orders export and Kizuna's generic format.

Pure parsing and mapping, no AWS and no pydantic, so the same code runs in the CLI, in
tests and in the benchmark. The file is read row by row and only the rows of the order
being assembled are held, so memory stays flat however long the file is: both formats
put one line item per row, and the rows of one order are contiguous.

Every problem is reported with the physical line it starts on, and one bad row rejects
its whole order (a half-imported order would skew revenue and F-stage for good).
See docs/import-format.md for the columns.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

from email_validator import EmailNotValidError, validate_email

from segmenter.domain.model import Consent, Contact, Order, OrderLine
from segmenter.domain.names import split_name
from shared.errors import InvalidInput

DEFAULT_PHONE_REGION = "JP"
SHOPIFY_CONSENT_SOURCE = "shopify_import"
GENERIC_CONSENT_SOURCE = "csv_import"
MAX_LINES_PER_ORDER = 500
"""As in the HTTP API. Also what bounds memory: rows past it are counted, not kept."""
MAX_ERRORS_PER_ORDER = 20
"""Errors kept per order (the rest are counted), so one huge broken order stays small."""
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-#/]{1,128}$")
"""Same as the HTTP API's order and customer ids, so imported orders are readable there."""
_EVENT_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MAX_MONEY = Decimal("999999999999.99")
_TRUE = frozenset({"yes", "true", "1", "y", "t"})
_FALSE = frozenset({"no", "false", "0", "n", "f", ""})
T = TypeVar("T")


class OrderFormat(StrEnum):
    SHOPIFY = "shopify"
    GENERIC = "generic"


class ImportFormatError(InvalidInput):
    """The file cannot be read as the chosen format at all (header, encoding)."""

    code = "import_format"


class FieldError(ValueError):
    """One cell is wrong; `column` names it as the file's header does."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str
    column: str | None = None

    def __str__(self) -> str:
        where = f"{self.column}: " if self.column else ""
        return f"line {self.line}: {where}{self.reason}"


@dataclass(frozen=True)
class ParsedOrder:
    """An order ready for ingest, with where it came from in the file."""

    order: Order
    contact: Contact
    consents: tuple[Consent, ...]
    line: int
    rows: int

    @functools.cached_property
    def event_id(self) -> str:
        """Deterministic: the same order in the same file always gets the same id, so a
        re-run is a duplicate; a different content for the same order id gets another
        id, so the ingest reports it as a conflict instead of skipping it silently.
        Computed once (a digest of the whole order; the import asks for it four times)."""
        return import_event_id(self.order)


@dataclass(frozen=True)
class RejectedOrder:
    order_id: str | None
    line: int
    rows: int
    errors: tuple[RowError, ...]


@dataclass(frozen=True)
class SkippedOrder:
    """Valid but deliberately not imported (cancelled, refunded or voided)."""

    order_id: str
    line: int
    rows: int
    reason: str


@dataclass(frozen=True)
class UnreadableFile:
    """The CSV is broken from here on (e.g. an unclosed quote); parsing stops."""

    line: int
    error: RowError


ImportItem = ParsedOrder | RejectedOrder | SkippedOrder | UnreadableFile


# --- value normalisers (the same rules as the HTTP API's schemas) -----------------------


@functools.lru_cache(maxsize=8192)
def normalise_email(value: str) -> str:
    """Validated and lower-cased, as the API stores it (no DNS lookup). Kept per value:
    a customer's address comes back with each of their orders in an export, and checking
    it was a sixth of an import's time."""
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValueError("not a valid email address") from None


@functools.lru_cache(maxsize=8192)
def normalise_phone(value: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164; numbers without a country code are read as Japanese (kept per value, as
    `normalise_email`).

    A leading apostrophe (spreadsheets add one to keep the leading zero) is ignored."""
    import phonenumbers  # with the first phone number, not at cold start

    try:
        number = phonenumbers.parse(value.lstrip("'"), region)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_money(value: str) -> Decimal:
    try:
        amount = Decimal(value.replace(",", ""))
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not amount.is_finite():
        raise ValueError("not a number")
    if amount < 0:
        raise ValueError("must not be negative")
    if amount > _MAX_MONEY or amount != amount.quantize(Decimal("0.01")):
        raise ValueError("at most 12 digits and 2 decimals")
    return amount


def parse_quantity(value: str) -> int:
    try:
        quantity = int(value)
    except ValueError:
        raise ValueError("not a whole number") from None
    if not 1 <= quantity <= 10_000:
        raise ValueError("must be between 1 and 10000")
    return quantity


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 or Shopify's `2025-10-07 09:50:26 +0900`; the offset is required, because
    the hour of day feeds the customer's active hour."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.strptime(value, "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            raise ValueError("not a date and time (ISO 8601 with offset)") from None
    if parsed.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. +09:00")
    return parsed


def parse_flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected yes or no")


def _money_text(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


def order_digest(order: Order) -> str:
    """A fingerprint of what an import writes for an order, independent of how numbers
    and times were spelled (3980 vs 3980.00, +09:00 vs UTC). The customer is left out:
    identity resolution decides it, and it changes when profiles merge. So is the shipping
    state: it moves on after the sale (a later export of the same order says "fulfilled"),
    which is progress, not different content; live shipping events carry it from there."""
    parts = [
        order.order_id,
        order.placed_at.timestamp().hex(),
        order.currency,
        _money_text(order.total),
        order.sales_channel or "",
        order.coupon or "",
    ]
    for ln in order.lines:
        parts += [
            ln.sku,
            str(ln.quantity),
            _money_text(ln.unit_price),
            _money_text(ln.list_price),
            _money_text(ln.unit_cost),
            ln.category or "",
        ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def import_event_id(order: Order) -> str:
    safe = _EVENT_ID_UNSAFE.sub("", order.order_id)[:64]
    return f"import:{safe}:{order_digest(order)[:24]}"


# --- the two formats --------------------------------------------------------------------


@dataclass(frozen=True)
class _Columns:
    """Header name per role; `required` must be in the header."""

    key: str
    refunded: str
    """Money given back on an order that was not cancelled (a partial refund)."""
    required: tuple[str, ...]
    order_level: tuple[str, ...]
    """Given on an order's first row; later rows leave them blank or repeat them."""


SHOPIFY = _Columns(
    key="Name",
    refunded="Refunded Amount",
    required=(
        "Name",
        "Email",
        "Created at",
        "Currency",
        "Total",
        "Lineitem quantity",
        "Lineitem price",
    ),
    order_level=(
        "Email",
        "Phone",
        "Billing Phone",
        "Billing Name",
        "Billing Country",
        "Created at",
        "Currency",
        "Total",
        "Discount Code",
        "Accepts Marketing",
        "Source",
        "Cancelled at",
        "Financial Status",
        "Fulfillment Status",
        "Fulfilled at",
        "Refunded Amount",
    ),
)
GENERIC = _Columns(
    key="order_id",
    refunded="refunded",
    required=("order_id", "placed_at", "sku", "quantity", "unit_price"),
    order_level=(
        "customer_id",
        "email",
        "phone",
        "first_name",
        "last_name",
        "placed_at",
        "currency",
        "total",
        "sales_channel",
        "coupon",
        "accepts_email_marketing",
        "status",
        "shipped_at",
        "delivered_at",
        "refunded",
    ),
)
_SPEC = {OrderFormat.SHOPIFY: SHOPIFY, OrderFormat.GENERIC: GENERIC}


class _Row:
    """One CSV record by column name; blank and missing columns read as ''."""

    __slots__ = ("cells", "index", "line")

    def __init__(self, cells: Sequence[str], index: dict[str, int], line: int) -> None:
        self.cells = cells
        self.index = index
        self.line = line

    def get(self, column: str) -> str:
        i = self.index.get(column)
        if i is None or i >= len(self.cells):
            return ""
        return self.cells[i].strip()


def _field(row: _Row, column: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(row.get(column))
    except ValueError as err:
        raise FieldError(column, str(err)) from None


def _optional(row: _Row, column: str, parse: Callable[[str], T]) -> T | None:
    return _field(row, column, parse) if row.get(column) else None


def _order_id(value: str) -> str:
    if not ID_PATTERN.match(value):
        raise ValueError("1-128 letters, digits or . _ : - # /")
    return value


def _optional_id(value: str) -> str:
    return _order_id(value) if value else ""


def _text(max_length: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > max_length:
            raise ValueError(f"longer than {max_length} characters")
        return value

    return check


def _currency(value: str) -> str:
    value = value.upper() or "JPY"
    if not _CURRENCY.match(value):
        raise ValueError("a three-letter ISO 4217 code, e.g. JPY")
    return value


@dataclass(frozen=True)
class _Head:
    """Order-level values, taken from an order's first row."""

    customer_id: str
    """The storefront's id, or '' to let identity resolution find the person by email or
    phone (and give a new person a fresh id)."""
    contact: Contact
    placed_at: datetime
    currency: str
    total: Decimal | None
    sales_channel: str | None
    coupon: str | None
    accepts_email_marketing: bool
    consent_source: str
    skip_reason: str | None
    status: str = "placed"
    """placed, shipped or delivered (cancelled and returned orders are skipped)."""
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    refunded: Decimal = Decimal(0)
    """Partial refunds so far: the order's revenue is its total less this."""


def _identity(
    row: _Row, email_col: str, phone_cols: tuple[str, ...]
) -> tuple[str | None, str | None]:
    email = _optional(row, email_col, normalise_email)
    phone: str | None = None
    for col in phone_cols:
        if row.get(col):
            phone = _field(row, col, normalise_phone)
            break
    return email, phone


def _shopify_head(row: _Row) -> _Head:
    email, phone = _identity(row, "Email", ("Phone", "Billing Phone"))
    if email is None and phone is None:
        raise FieldError("Email", "no email or phone to identify the customer")
    name = split_name(
        _field(row, "Billing Name", _text(200)), row.get("Billing Country") or None, 100
    )
    placed_at = _field(row, "Created at", _required_then(parse_timestamp))
    cancelled = row.get("Cancelled at")
    status = row.get("Financial Status").lower()
    skip = (
        "cancelled"
        if cancelled
        else (f"financial status {status}" if status in ("refunded", "voided") else None)
    )
    fulfilled_at = _optional(row, "Fulfilled at", parse_timestamp)
    fulfilled = fulfilled_at is not None or row.get("Fulfillment Status").lower() == "fulfilled"
    return _Head(
        customer_id="",  # exports carry no customer id: identity resolution uses email/phone
        contact=Contact(
            email=email,
            phone=phone,
            first_name=name.first_name,
            last_name=name.last_name,
        ),
        placed_at=placed_at,
        currency=_field(row, "Currency", _currency),
        total=_field(row, "Total", _required_then(parse_money)),
        sales_channel=_field(row, "Source", _text(64)) or None,
        coupon=_field(row, "Discount Code", _text(64)) or None,
        accepts_email_marketing=_field(row, "Accepts Marketing", parse_flag),
        consent_source=SHOPIFY_CONSENT_SOURCE,
        skip_reason=skip,
        status="shipped" if fulfilled else "placed",
        shipped_at=fulfilled_at,
        refunded=_optional(row, "Refunded Amount", parse_money) or Decimal(0),
    )


def _generic_head(row: _Row) -> _Head:
    email, phone = _identity(row, "email", ("phone",))
    customer_id = _field(row, "customer_id", _optional_id)
    if not (customer_id or email or phone):
        raise FieldError("customer_id", "no customer_id, email or phone to identify the customer")
    shipped_at = _optional(row, "shipped_at", parse_timestamp)
    delivered_at = _optional(row, "delivered_at", parse_timestamp)
    implied = "delivered" if delivered_at else ("shipped" if shipped_at else "placed")
    status = row.get("status").lower() or implied
    if status not in ("placed", "shipped", "delivered", "cancelled", "returned"):
        raise FieldError("status", "one of placed, shipped, delivered, cancelled, returned")
    if status == "placed" and implied != "placed":
        raise FieldError("status", f"placed, but the order has a {implied}_at")
    if status == "shipped" and delivered_at:
        raise FieldError("status", "shipped, but the order has a delivered_at")
    return _Head(
        customer_id=customer_id,
        contact=Contact(
            email=email,
            phone=phone,
            first_name=_field(row, "first_name", _text(100)) or None,
            last_name=_field(row, "last_name", _text(100)) or None,
        ),
        placed_at=_field(row, "placed_at", _required_then(parse_timestamp)),
        currency=_field(row, "currency", _currency),
        total=_optional(row, "total", parse_money),
        sales_channel=_field(row, "sales_channel", _text(64)) or None,
        coupon=_field(row, "coupon", _text(64)) or None,
        accepts_email_marketing=_field(row, "accepts_email_marketing", parse_flag),
        consent_source=GENERIC_CONSENT_SOURCE,
        skip_reason=status if status in ("cancelled", "returned") else None,
        status=status,
        shipped_at=shipped_at,
        delivered_at=delivered_at,
        refunded=_optional(row, "refunded", parse_money) or Decimal(0),
    )


def _required_then(parse: Callable[[str], T]) -> Callable[[str], T]:
    def check(value: str) -> T:
        if not value:
            raise ValueError("required")
        return parse(value)

    return check


def _sku(value: str) -> str:
    if len(value) > 64:
        raise ValueError("longer than 64 characters")
    return value


def _shopify_line(row: _Row) -> OrderLine:
    sku = row.get("Lineitem sku")
    if not sku:
        # Custom items and shops without SKUs: the product name is the best stable key.
        sku = row.get("Lineitem name")[:64]
        if not sku:
            raise FieldError("Lineitem sku", "required (or a Lineitem name)")
    else:
        sku = _field(row, "Lineitem sku", _sku)
    unit_price = _field(row, "Lineitem price", _required_then(parse_money))
    compare_at = _optional(row, "Lineitem compare at price", parse_money)
    return OrderLine(
        sku=sku,
        quantity=_field(row, "Lineitem quantity", _required_then(parse_quantity)),
        unit_price=unit_price,
        # Shopify writes 0 or the price itself when there is no real compare-at price.
        list_price=compare_at if compare_at else None,
    )


def _generic_line(row: _Row) -> OrderLine:
    return OrderLine(
        sku=_field(row, "sku", _required_then(_sku)),
        quantity=_field(row, "quantity", _required_then(parse_quantity)),
        unit_price=_field(row, "unit_price", _required_then(parse_money)),
        category=_field(row, "category", _text(64)) or None,
        list_price=_optional(row, "list_price", parse_money),
        unit_cost=_optional(row, "unit_cost", parse_money),
    )


_HEAD = {OrderFormat.SHOPIFY: _shopify_head, OrderFormat.GENERIC: _generic_head}
_LINE = {OrderFormat.SHOPIFY: _shopify_line, OrderFormat.GENERIC: _generic_line}


class _Group:
    """The rows of the order being assembled: bounded by MAX_LINES_PER_ORDER."""

    def __init__(self, key: str, first: _Row) -> None:
        self.key = key
        self.first = first
        self.line = first.line
        self.rows = 0
        self.lines: list[OrderLine] = []
        self.errors: list[RowError] = []
        self.more_errors = 0
        self.too_many = False

    def error(self, error: RowError) -> None:
        if len(self.errors) < MAX_ERRORS_PER_ORDER:
            self.errors.append(error)
        else:
            self.more_errors += 1


class OrderCsvParser:
    """Turns CSV text lines into orders, one order at a time.

    `rows_read` counts data rows (not the header, not blank lines) as they are read,
    so a caller can show progress while iterating."""

    def __init__(self, lines: Iterable[str], fmt: OrderFormat | str) -> None:
        self.format = OrderFormat(fmt)
        self.rows_read = 0
        self._spec = _SPEC[self.format]
        self._head = _HEAD[self.format]
        self._line = _LINE[self.format]
        self._reader = csv.reader(lines)
        self._width = 0
        self._index = self._read_header()

    def _read_header(self) -> dict[str, int]:
        try:
            header = next(self._reader)
        except StopIteration:
            raise ImportFormatError("the file is empty; expected a header row") from None
        except csv.Error as err:
            raise ImportFormatError(f"line 1: unreadable header ({err})") from None
        self._width = len(header)
        index: dict[str, int] = {}
        for i, name in enumerate(header):
            index.setdefault(name.strip().lstrip("\ufeff"), i)
        missing = [c for c in self._spec.required if c not in index]
        if missing:
            raise ImportFormatError(
                f"not a {self.format.value} orders file: missing column(s) {', '.join(missing)}",
                field="header",
            )
        return index

    def __iter__(self) -> Iterator[ImportItem]:
        group: _Group | None = None
        line_num = self._reader.line_num
        while True:
            start = line_num + 1
            try:
                cells = next(self._reader)
            except StopIteration:
                break
            except csv.Error as err:
                broken = RowError(start, f"unreadable CSV ({err}); import stopped here")
                if group is not None:
                    # The order may have had more rows past the break: never load it partly.
                    group.error(broken)
                    yield self._finish(group)
                yield UnreadableFile(start, broken)
                return
            line_num = self._reader.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            self.rows_read += 1
            row = _Row(cells, self._index, start)
            key = row.get(self._spec.key)
            if group is not None and key == group.key and key:
                self._add(group, row)
                continue
            if group is not None:
                yield self._finish(group)
            group = _Group(key, row)
            self._add(group, row)
        if group is not None:
            yield self._finish(group)

    def _add(self, group: _Group, row: _Row) -> None:
        group.rows += 1
        if len(row.cells) != self._width:
            # A cell too many or too few shifts every value after it into the wrong
            # column, so the row's values cannot be trusted, blank or not.
            group.error(
                RowError(row.line, f"{len(row.cells)} columns, the header has {self._width}")
            )
            return
        if not group.key:
            group.error(RowError(row.line, "required", self._spec.key))
            return
        if row is not group.first:
            self._check_repeated(group, row)
        try:
            line = self._line(row)
        except FieldError as err:
            group.error(RowError(row.line, err.reason, err.column))
            return
        if len(group.lines) >= MAX_LINES_PER_ORDER:
            group.too_many = True
            return
        group.lines.append(line)

    def _check_repeated(self, group: _Group, row: _Row) -> None:
        for column in self._spec.order_level:
            value = row.get(column)
            if value and value != group.first.get(column):
                group.error(
                    RowError(
                        row.line,
                        f"differs from the order's first row (line {group.line})",
                        column,
                    )
                )

    def _finish(self, group: _Group) -> ImportItem:
        order_id = group.key or None
        errors = group.errors
        if group.key and not ID_PATTERN.match(group.key):
            errors.insert(
                0, RowError(group.line, "1-128 letters, digits or . _ : - # /", self._spec.key)
            )
        if group.more_errors:
            errors.append(
                RowError(group.line, f"and {group.more_errors} more problems in this order")
            )
        if group.too_many:
            errors.append(
                RowError(group.line, f"more than {MAX_LINES_PER_ORDER} line items in one order")
            )
        head: _Head | None = None
        if len(group.first.cells) == self._width:  # else its values sit in wrong columns
            try:
                head = self._head(group.first)
            except FieldError as err:
                errors.insert(0, RowError(group.line, err.reason, err.column))
        if errors or head is None or order_id is None:
            return RejectedOrder(order_id, group.line, group.rows, tuple(errors))
        if head.skip_reason:
            return SkippedOrder(order_id, group.line, group.rows, head.skip_reason)
        lines = tuple(group.lines)
        total = (
            head.total if head.total is not None else sum((ln.amount for ln in lines), Decimal(0))
        )
        if head.refunded > total:
            refused = RowError(
                group.line, f"more than the order's total ({total})", self._spec.refunded
            )
            return RejectedOrder(order_id, group.line, group.rows, (refused,))
        if head.refunded and head.refunded == total:
            return SkippedOrder(order_id, group.line, group.rows, "refunded in full")
        order = Order(
            order_id=order_id,
            customer_id=head.customer_id,
            placed_at=head.placed_at,
            currency=head.currency,
            total=total,
            lines=lines,
            sales_channel=head.sales_channel,
            coupon=head.coupon,
            status=head.status,
            shipped_at=head.shipped_at,
            delivered_at=head.delivered_at,
            refunded=head.refunded,
        )
        consents: tuple[Consent, ...] = ()
        if head.accepts_email_marketing:
            consents = (Consent("email", "marketing", True, head.consent_source, head.placed_at),)
        return ParsedOrder(order, head.contact, consents, group.line, group.rows)


def parse_orders(lines: Iterable[str], fmt: OrderFormat | str) -> Iterator[ImportItem]:
    """Shorthand when the caller does not need the running row count."""
    return iter(OrderCsvParser(lines, fmt))


def decode_lines(raw: Iterable[bytes], encoding: str = "utf-8-sig") -> Iterator[str]:
    """Bytes lines → text lines, one line at a time (a text file's own iterator would do,
    but reading bytes lets the caller count them for a progress bar).

    Splitting on b"\\n" before decoding is safe for UTF-8 and Shift_JIS (cp932): neither
    uses that byte inside a multi-byte character."""
    first = True
    for number, chunk in enumerate(raw, start=1):
        enc = encoding if first else encoding.removesuffix("-sig")
        first = False
        try:
            yield chunk.decode(enc)
        except UnicodeDecodeError:
            raise ImportFormatError(
                f"line {number}: not {encoding} text (choose the file's encoding, e.g. cp932)",
                field="encoding",
            ) from None
