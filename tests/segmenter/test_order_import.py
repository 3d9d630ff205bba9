"""CSV import, pure domain: Shopify and generic rows become orders, bad rows are named
by line, and memory does not grow with the file."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from segmenter.domain.order_import import (
    ImportFormatError,
    ImportItem,
    OrderCsvParser,
    ParsedOrder,
    RejectedOrder,
    SkippedOrder,
    UnreadableFile,
    decode_lines,
    parse_orders,
)
from shared.contracts.envelope import EVENT_ID_PATTERN

DATA = Path(__file__).parent / "data"
JST = timezone(timedelta(hours=9))


def _parse(name: str, fmt: str) -> list[ImportItem]:
    with (DATA / name).open(encoding="utf-8-sig", newline="") as f:
        return list(parse_orders(f, fmt))


def _parsed(items: list[ImportItem]) -> dict[str, ParsedOrder]:
    return {i.order.order_id: i for i in items if isinstance(i, ParsedOrder)}


def test_shopify_rows_of_one_order_become_one_order_with_its_lines() -> None:
    # Given Shopify's export: order-level fields only on each order's first row
    # When it is parsed
    items = _parse("shopify_orders.csv", "shopify")

    # Then #1001 (two rows) is one order with both lines and the file's total
    orders = _parsed(items)
    first = orders["#1001"]
    assert first.rows == 2 and first.line == 2
    assert first.order.total == Decimal("7960.00")
    assert first.order.currency == "JPY"
    assert first.order.placed_at == datetime(2024, 3, 5, 21, 14, 9, tzinfo=JST)
    assert first.order.coupon == "WELCOME10"
    assert first.order.sales_channel == "web"
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.list_price) for ln in first.order.lines] == [
        ("SERUM-30", 1, Decimal("3980.00"), Decimal("4980.00")),
        ("MASK-5", 2, Decimal("1990.00"), None),
    ]
    assert sum(ln.amount for ln in first.order.lines) == first.order.total
    # And three rows of #1003 are three lines; a line without SKU is keyed by its name
    assert [ln.sku for ln in orders["#1003"].order.lines] == [
        "SERUM-30",
        "TONER-200",
        "Gift wrapping",
    ]
    assert orders["#1003"].order.total == Decimal("6470.00")


def test_shopify_contact_is_normalised_and_marketing_consent_dated_at_the_order() -> None:
    # Given the same export
    orders = _parsed(_parse("shopify_orders.csv", "shopify"))

    # Then emails are lower-cased, phones are E.164, the billing name is split family
    # name first, as Japanese addresses write it (山田 花子: family 山田, given 花子)
    hanako = orders["#1001"]
    assert hanako.contact.email == "hanako.yamada@example.jp"
    assert hanako.contact.phone == "+819012345678"
    assert (hanako.contact.last_name, hanako.contact.first_name) == ("山田", "花子")
    # And a romanised name on a Japanese address is family name first too
    taro = orders["#1002"].contact
    assert (taro.last_name, taro.first_name) == ("Suzuki", "Taro")
    # And "Accepts Marketing: yes" is an email opt-in from shopify_import, at order time
    (consent,) = hanako.consents
    assert (consent.channel, consent.category, consent.granted) == ("email", "marketing", True)
    assert consent.source == "shopify_import"
    assert consent.recorded_at == hanako.order.placed_at
    # And "no" records nothing (not ticking a box is not an opt-out)
    assert orders["#1002"].consents == ()
    # And a phone-only order is identified by its phone; no customer id is invented here
    assert orders["#1005"].contact.phone == "+818011112222"
    assert orders["#1005"].contact.email is None
    assert {o.order.customer_id for o in orders.values()} == {""}


def test_cancelled_and_voided_orders_are_skipped_and_rows_are_counted() -> None:
    # Given an export with a cancelled order
    with (DATA / "shopify_orders.csv").open(encoding="utf-8-sig", newline="") as f:
        parser = OrderCsvParser(f, "shopify")
        items = list(parser)

    # Then it is skipped with its reason, and every data row was read
    skipped = [i for i in items if isinstance(i, SkippedOrder)]
    assert [(s.order_id, s.reason) for s in skipped] == [("#1004", "cancelled")]
    assert parser.rows_read == 8
    assert len(_parsed(items)) == 4


def test_generic_format_maps_every_documented_column() -> None:
    # Given the generic format
    items = _parse("generic_orders.csv", "generic")

    # Then order-level columns come from the first row and lines keep cost and category
    orders = _parsed(items)
    g1 = orders["G-1001"].order
    assert g1.customer_id == "c-100"
    assert g1.total == Decimal(5970)
    assert g1.sales_channel == "web" and g1.coupon == "SPRING10"
    assert [(ln.sku, ln.category, ln.unit_cost, ln.list_price) for ln in g1.lines] == [
        ("SERUM-30", "skincare", Decimal(1200), Decimal(4980)),
        ("TONER-200", "skincare", Decimal(600), None),
    ]
    assert orders["G-1001"].consents[0].source == "csv_import"
    # And an empty total is the sum of the lines
    assert orders["G-1002"].order.total == Decimal(3000)
    assert orders["G-1002"].contact.phone == "+819022223333"
    assert orders["G-1002"].consents == ()
    # And cancelled orders are skipped
    assert [i.order_id for i in items if isinstance(i, SkippedOrder)] == ["G-1004"]


def test_bad_rows_are_reported_by_line_and_reject_only_their_order() -> None:
    # Given a file with a bad price on the second row of #2002, a bad email and a row
    # with two problems
    items = _parse("shopify_bad_rows.csv", "shopify")

    # Then the good orders parse and each bad order is rejected with line and column
    assert sorted(_parsed(items)) == ["#2001", "#2004"]
    rejected = {
        i.order_id: [str(e) for e in i.errors] for i in items if isinstance(i, RejectedOrder)
    }
    assert rejected == {
        "#2002": ["line 4: Lineitem price: not a number"],
        "#2003": ["line 5: Email: not a valid email address"],
        "#2005": [
            "line 7: Created at: needs a UTC offset, e.g. +09:00",
            "line 7: Lineitem quantity: must be between 1 and 10000",
        ],
    }


GENERIC_HEADER = "order_id,customer_id,email,placed_at,total,sku,quantity,unit_price,notes\n"


def test_line_numbers_count_physical_lines_of_multi_line_cells() -> None:
    # Given a quoted cell that spans two lines before a bad row
    text = [
        GENERIC_HEADER,
        'A-1,c-1,,2024-01-01T10:00:00+09:00,100,S,1,100,"gift\n',
        'message"\n',
        "A-2,c-1,,2024-01-01T10:00:00+09:00,100,S,x,100,\n",
    ]

    # When parsed
    items = list(parse_orders(iter(text), "generic"))

    # Then the bad row is reported at its real line (4), not its record number (3)
    (bad,) = [i for i in items if isinstance(i, RejectedOrder)]
    assert [str(e) for e in bad.errors] == ["line 4: quantity: not a whole number"]


def test_a_repeated_order_field_that_differs_rejects_the_order() -> None:
    # Given a second row of A-1 that contradicts the first row's total
    text = [
        GENERIC_HEADER,
        "A-1,c-1,,2024-01-01T10:00:00+09:00,100,S,1,100,\n",
        "A-1,c-1,,2024-01-01T10:00:00+09:00,999,T,1,100,\n",
    ]

    # Then the order is rejected, naming the column and both lines
    (bad,) = list(parse_orders(iter(text), "generic"))
    assert isinstance(bad, RejectedOrder)
    assert [str(e) for e in bad.errors] == [
        "line 3: total: differs from the order's first row (line 2)"
    ]


def test_a_missing_column_stops_before_any_row() -> None:
    # Given a generic file without unit_price
    # Then the parser refuses it up front, naming the column
    with pytest.raises(ImportFormatError, match="unit_price"):
        OrderCsvParser(iter(["order_id,placed_at,sku,quantity\n"]), "generic")
    with pytest.raises(ImportFormatError, match="empty"):
        OrderCsvParser(iter([]), "shopify")


def test_an_unreadable_row_stops_the_file_and_rejects_the_open_order() -> None:
    # Given a stray carriage return in an unquoted field (the csv module cannot resync)
    text = [
        GENERIC_HEADER,
        "A-1,c-1,,2024-01-01T10:00:00+09:00,100,S,1,100,\n",
        "A-2,c-1,,2024-01-01T10:00:00+09:00,100,S,1,100,\n",
        "A-2,c-1,,2024-01-01T10:00:00+09:00,100,S\r,1,100,\n",
        "A-3,c-1,,2024-01-01T10:00:00+09:00,100,S,1,100,\n",
    ]

    items = list(parse_orders(iter(text), "generic"))

    # Then A-1 parses, A-2 (maybe incomplete) is rejected, and parsing stops at line 4
    assert isinstance(items[0], ParsedOrder)
    assert isinstance(items[1], RejectedOrder) and items[1].order_id == "A-2"
    assert isinstance(items[2], UnreadableFile) and items[2].line == 4
    assert len(items) == 3


def test_event_ids_are_deterministic_valid_and_follow_content() -> None:
    # Given the same file parsed twice, and once with a changed price
    once = _parsed(_parse("shopify_orders.csv", "shopify"))
    twice = _parsed(_parse("shopify_orders.csv", "shopify"))
    changed = _parsed(
        list(
            parse_orders(
                iter(
                    [
                        GENERIC_HEADER,
                        "#1001,,a@example.jp,2024-01-01T10:00:00+09:00,100,S,1,100,\n",
                    ]
                ),
                "generic",
            )
        )
    )

    # Then ids repeat across runs, fit the envelope's id pattern, and differ with content
    assert {k: v.event_id for k, v in once.items()} == {k: v.event_id for k, v in twice.items()}
    assert all(re.match(EVENT_ID_PATTERN, o.event_id) for o in once.values())
    assert changed["#1001"].event_id != once["#1001"].event_id


def test_decode_lines_strips_the_bom_and_reads_shift_jis() -> None:
    # Given a UTF-8 file with a BOM (Shopify, Excel) and a cp932 file (Excel in Japan)
    utf8 = ["\ufeffName,Email\n".encode(), "#1,花子\n".encode()]
    sjis = ["Name,Email\n".encode("cp932"), "#1,花子\n".encode("cp932")]

    # Then both decode to the same text, and undecodable bytes name the line
    assert list(decode_lines(utf8)) == ["Name,Email\n", "#1,花子\n"]
    assert list(decode_lines(sjis, "cp932")) == ["Name,Email\n", "#1,花子\n"]
    with pytest.raises(ImportFormatError, match="line 2"):
        list(decode_lines(sjis))


def _synthetic_rows(rows: int) -> Iterator[str]:
    """A generic file generated on the fly: nothing but the parser holds it."""
    yield GENERIC_HEADER
    for n in range(rows):
        order = n // 3
        yield (f"O-{order},c-{order % 5000},,2024-01-01T10:00:00+09:00,300,SKU-{n % 97},1,100,\n")


def _peak_bytes(rows: int) -> tuple[int, int]:
    tracemalloc.start()
    try:
        parsed = sum(
            1 for i in parse_orders(_synthetic_rows(rows), "generic") if isinstance(i, ParsedOrder)
        )
        return tracemalloc.get_traced_memory()[1], parsed
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_as_the_file_grows() -> None:
    # Given files of 20k and 100k rows
    # When each is parsed in full
    small_peak, small_orders = _peak_bytes(20_000)
    large_peak, large_orders = _peak_bytes(100_000)

    # Then every order came through, and the peak does not grow with the file
    assert (small_orders, large_orders) == (6_667, 33_334)
    assert large_peak < 1_000_000
    assert large_peak < small_peak * 1.5


def test_one_huge_broken_order_stays_small() -> None:
    # Given one order of 600 rows, 30 of them with a bad quantity
    rows = [GENERIC_HEADER] + [
        f"BIG,c-1,,2024-01-01T10:00:00+09:00,,S{n},{'x' if n < 30 else 1},100,\n"
        for n in range(600)
    ]

    # When parsed
    (big,) = list(parse_orders(iter(rows), "generic"))

    # Then it is rejected with 20 errors kept, the rest counted, and the line cap named
    assert isinstance(big, RejectedOrder) and big.rows == 600
    messages = [str(e) for e in big.errors]
    assert len(messages) == 22
    assert messages[0] == "line 2: quantity: not a whole number"
    assert messages[-2:] == [
        "line 2: and 10 more problems in this order",
        "line 2: more than 500 line items in one order",
    ]


def test_generic_shipping_state_is_read_and_contradictions_are_named() -> None:
    # Given generic rows with a status, shipping and delivery dates, and one contradiction
    lines = [
        "order_id,customer_id,placed_at,sku,quantity,unit_price,status,shipped_at,delivered_at",
        "G-1,c-1,2024-01-10T09:30:00+09:00,SERUM,1,3980,shipped,2024-01-12T10:00:00+09:00,",
        "G-2,c-1,2024-02-10T09:30:00+09:00,SERUM,1,3980,,,2024-02-14T10:00:00+09:00",
        "G-3,c-1,2024-03-10T09:30:00+09:00,SERUM,1,3980,placed,2024-03-12T10:00:00+09:00,",
    ]

    # When they are parsed
    items = list(parse_orders(lines, "generic"))

    # Then the statuses and dates are kept (a date alone implies its status)
    orders = _parsed(items)
    g1, g2 = orders["G-1"].order, orders["G-2"].order
    assert (g1.status, g1.shipped_at) == ("shipped", datetime(2024, 1, 12, 10, tzinfo=JST))
    assert (g2.status, g2.delivered_at) == ("delivered", datetime(2024, 2, 14, 10, tzinfo=JST))
    # And "placed" with a shipping date is refused, naming the column
    [rejected] = [i for i in items if isinstance(i, RejectedOrder)]
    assert [(e.line, e.column) for e in rejected.errors] == [(4, "status")]


def test_shopify_fulfilled_at_becomes_the_shipping_date() -> None:
    # Given Shopify rows: one fulfilled with its date, one fulfilled without, one not yet
    header = "Name,Email,Created at,Currency,Total,Lineitem quantity,Lineitem price,"
    header += "Lineitem sku,Fulfillment Status,Fulfilled at"
    lines = [
        header,
        "#1,a@example.jp,2024-03-05 21:14:09 +0900,JPY,100,1,100,A,fulfilled,"
        "2024-03-07 10:00:00 +0900",
        "#2,b@example.jp,2024-03-05 21:14:09 +0900,JPY,100,1,100,A,fulfilled,",
        "#3,c@example.jp,2024-03-05 21:14:09 +0900,JPY,100,1,100,A,unfulfilled,",
    ]

    # When they are parsed
    orders = _parsed(list(parse_orders(lines, "shopify")))

    # Then shipped orders say so, with the date where the export has one
    shipped = [(o, orders[o].order.status, orders[o].order.shipped_at) for o in ("#1", "#2", "#3")]
    assert shipped == [
        ("#1", "shipped", datetime(2024, 3, 7, 10, tzinfo=JST)),
        ("#2", "shipped", None),
        ("#3", "placed", None),
    ]


SHOPIFY_HEADER = (
    "Name,Email,Created at,Currency,Total,Lineitem quantity,Lineitem price,Lineitem sku,"
    "Billing Name,Billing Country,Financial Status,Refunded Amount,Source,Tags"
)


def _shopify_row(name: str, *, billing: str = "", country: str = "", refunded: str = "") -> str:
    return (
        f"{name},a@example.jp,2024-03-05 21:14:09 +0900,JPY,3000,1,3000,A,{billing},{country},"
        f"partially_refunded,{refunded},web,vip"
    )


def test_a_record_with_a_column_more_or_fewer_than_the_header_is_refused_for_its_shape() -> None:
    # Given a Shopify file of 14 columns: a good row, one with an extra cell, one with an
    # extra blank cell, one without its last cell (Tags), and a multi-line record with
    # a column too many that starts on line 6
    lines = [
        SHOPIFY_HEADER + "\n",
        _shopify_row("#1") + "\n",
        _shopify_row("#2") + ",extra\n",
        _shopify_row("#3") + ",\n",
        _shopify_row("#4").rsplit(",", 1)[0] + "\n",
        _shopify_row("#5", billing='"Sato\nHana"') + ",x\n",
    ]

    # When it is parsed
    items = list(parse_orders(lines, "shopify"))

    # Then only the well-formed order loads; each other is refused for its shape, at
    # the line its record starts on, and nothing read from shifted cells is reported
    assert sorted(_parsed(items)) == ["#1"]
    rejected = {
        i.order_id: [str(e) for e in i.errors] for i in items if isinstance(i, RejectedOrder)
    }
    assert rejected == {
        "#2": ["line 3: 15 columns, the header has 14"],
        "#3": ["line 4: 15 columns, the header has 14"],
        "#4": ["line 5: 13 columns, the header has 14"],
        "#5": ["line 6: 15 columns, the header has 14"],
    }


def test_the_generic_format_checks_every_record_s_shape_too() -> None:
    # Given a generic file whose second order lacks its last (blank) cell
    text = [
        GENERIC_HEADER,
        "A-1,c-1,,2024-01-01T10:00:00+09:00,100,S,1,100,\n",
        "A-2,c-1,,2024-01-01T10:00:00+09:00,100,S,1,100\n",
    ]

    # Then it is refused for its shape, naming its line
    items = list(parse_orders(iter(text), "generic"))
    assert sorted(_parsed(items)) == ["A-1"]
    (bad,) = [i for i in items if isinstance(i, RejectedOrder)]
    assert [str(e) for e in bad.errors] == ["line 3: 8 columns, the header has 9"]


def test_billing_names_are_split_by_the_address_s_locale() -> None:
    # Given billing names on Japanese, American and unstated addresses
    lines = [
        SHOPIFY_HEADER,
        _shopify_row("#1", billing="鈴木 葵", country="JP"),
        _shopify_row("#2", billing="佐藤\u3000陽菜", country=""),
        _shopify_row("#3", billing="Emily Clark", country="US"),
        _shopify_row("#4", billing="山田花子", country="JP"),
        _shopify_row("#5", billing="Yamada Hanako", country="jp"),
    ]

    # When they are parsed
    orders = _parsed(list(parse_orders(lines, "shopify")))

    # Then Japanese names (by country or by script) are family name first, others given
    # name first, and a name without a space is kept whole as the family name in Japan
    names = {k: (o.contact.last_name, o.contact.first_name) for k, o in orders.items()}
    assert names == {
        "#1": ("鈴木", "葵"),
        "#2": ("佐藤", "陽菜"),
        "#3": ("Clark", "Emily"),
        "#4": ("山田花子", None),
        "#5": ("Yamada", "Hanako"),
    }


def test_a_partial_refund_is_kept_and_a_full_or_excessive_one_is_not_revenue() -> None:
    # Given orders of 3000: refunded 500, refunded in full, refunded more than paid
    lines = [
        SHOPIFY_HEADER,
        _shopify_row("#1", refunded="500.00"),
        _shopify_row("#2", refunded="3000"),
        _shopify_row("#3", refunded="3500"),
        _shopify_row("#4", refunded=""),
    ]

    # When they are parsed
    items = list(parse_orders(lines, "shopify"))

    # Then the partial refund stays on the order, whose revenue is net of it
    orders = _parsed(items)
    assert (orders["#1"].order.total, orders["#1"].order.refunded) == (Decimal(3000), Decimal(500))
    assert orders["#1"].order.revenue == Decimal(2500)
    assert orders["#4"].order.revenue == Decimal(3000)
    # And a full refund is skipped like a refunded order; more than the total is refused
    assert [(i.order_id, i.reason) for i in items if isinstance(i, SkippedOrder)] == [
        ("#2", "refunded in full")
    ]
    (bad,) = [i for i in items if isinstance(i, RejectedOrder)]
    assert [str(e) for e in bad.errors] == [
        "line 4: Refunded Amount: more than the order's total (3000)"
    ]
