"""CSV import through the real ingest on moto DynamoDB, and the `kizuna import orders`
command end to end: orders land once, re-runs change nothing, history sends nothing
(it is published as `order.imported`, which the messenger only keeps)."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from messenger.entrypoints import events as messenger_events
from ops.cli import app
from segmenter.bootstrap import SegmenterContainer, build
from segmenter.domain.identity import Identifier
from segmenter.domain.model import Profile
from segmenter.importer import ImportSummary, import_orders
from shared.adapters.eventbridge import EventPublisher
from shared.contracts.envelope import EventEnvelope
from tests.conftest import Cloud, ShopKeys, order_payload

DATA = Path(__file__).parent / "data"
JST = timezone(timedelta(hours=9))


class RecordingPublisher(EventPublisher):
    def __init__(self) -> None:
        self.published: list[EventEnvelope] = []

    def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        self.published.extend(envelopes)


def _run(
    c: SegmenterContainer, name: str, fmt: str, publisher: EventPublisher | None = None
) -> ImportSummary:
    with (DATA / name).open(encoding="utf-8-sig", newline="") as f:
        return import_orders(f, fmt, "acme", c.profiles, publisher or c.publisher)


def _profile_by_email(c: SegmenterContainer, email: str) -> Profile:
    customer_id = c.profiles.owner_of("acme", Identifier("email", email))
    assert customer_id is not None
    profile = c.profiles.get_profile("acme", customer_id)
    assert profile is not None
    return profile


def _item_count(cloud: Cloud) -> int:
    return len(cloud.dynamodb.scan(TableName=cloud.settings.segmenter_table)["Items"])


def test_shopify_export_lands_in_profiles(cloud: Cloud, shop: ShopKeys) -> None:
    # Given a Shopify export with a two-order customer, a phone-only one and a cancellation
    c = build(cloud.settings)

    # When it is imported
    summary = _run(c, "shopify_orders.csv", "shopify")

    # Then four orders are imported and the cancelled one is skipped
    assert summary.as_dict() == {
        "rows_read": 8,
        "orders_imported": 4,
        "duplicates_skipped": 0,
        "orders_rejected": 0,
        "orders_conflicting": 0,
        "orders_skipped": 1,
        "error_count": 0,
        "completed": True,
    }
    assert summary.all_loaded
    # And Hanako (two orders, her email spelled two ways) is one profile, F2
    hanako = _profile_by_email(c, "hanako.yamada@example.jp")
    assert hanako.order_count == 2
    assert hanako.stats.revenue == Decimal("7960") + Decimal("6470")
    consent = hanako.consent_for("email", "marketing")
    assert consent is not None and consent.granted and consent.source == "shopify_import"
    # And her first order is stored with both lines, under her profile
    stored = c.profiles.get_order("acme", "#1001")
    assert stored is not None and stored.customer_id == hanako.customer_id
    assert [(ln.sku, ln.quantity) for ln in stored.lines] == [("SERUM-30", 1), ("MASK-5", 2)]
    # And the phone-only buyer has a profile found by phone
    assert c.profiles.owner_of("acme", Identifier("phone", "+818011112222")) is not None


def test_generic_file_keeps_storefront_ids(cloud: Cloud, shop: ShopKeys) -> None:
    # Given the generic format with storefront customer ids
    c = build(cloud.settings)

    # When imported
    summary = _run(c, "generic_orders.csv", "generic")

    # Then the profiles carry those ids, with categories and computed totals
    assert (summary.orders_imported, summary.orders_skipped) == (3, 1)
    c100 = c.profiles.get_profile("acme", "c-100")
    c101 = c.profiles.get_profile("acme", "c-101")
    assert c100 is not None and c101 is not None
    assert c100.order_count == 2 and c100.stats.revenue == Decimal(5970 + 3980)
    assert "skincare" in c100.stats.categories
    assert c101.order_count == 1 and c101.stats.revenue == Decimal(3000)


def test_importing_the_same_file_twice_changes_nothing(cloud: Cloud, shop: ShopKeys) -> None:
    # Given a file imported once
    c = build(cloud.settings)
    _run(c, "shopify_orders.csv", "shopify")
    items_before = _item_count(cloud)
    hanako_before = _profile_by_email(c, "hanako.yamada@example.jp")

    # When it is imported again
    again = _run(c, "shopify_orders.csv", "shopify")

    # Then every order is a duplicate, and nothing in DynamoDB changed
    assert (again.orders_imported, again.duplicates_skipped) == (0, 4)
    assert again.all_loaded
    assert _item_count(cloud) == items_before
    hanako_after = _profile_by_email(c, "hanako.yamada@example.jp")
    assert hanako_after.order_count == 2
    assert hanako_after.version == hanako_before.version


def test_a_rerun_after_event_markers_expired_still_changes_nothing(
    cloud: Cloud, shop: ShopKeys
) -> None:
    # Given an imported file whose event markers have expired (DynamoDB TTL, 90 days)
    c = build(cloud.settings)
    _run(c, "generic_orders.csv", "generic")
    table = cloud.settings.segmenter_table
    for item in cloud.dynamodb.scan(TableName=table)["Items"]:
        if item["sk"]["S"] == "EVENT":
            cloud.dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    items_before = _item_count(cloud)

    # When it is imported again
    again = _run(c, "generic_orders.csv", "generic")

    # Then the stored orders are recognised as the same, and nothing is counted twice
    assert (again.orders_imported, again.duplicates_skipped, again.orders_conflicting) == (0, 3, 0)
    assert _item_count(cloud) == items_before
    c100 = c.profiles.get_profile("acme", "c-100")
    assert c100 is not None and c100.order_count == 2


def test_bad_rows_are_reported_while_good_orders_load(cloud: Cloud, shop: ShopKeys) -> None:
    # Given a file where three of five orders have a bad row
    c = build(cloud.settings)

    # When imported
    summary = _run(c, "shopify_bad_rows.csv", "shopify")

    # Then the two good orders load, and each bad one is named by line and column
    assert (summary.orders_imported, summary.orders_rejected, summary.rows_read) == (2, 3, 6)
    assert [str(e) for e in summary.errors] == [
        "line 4: Lineitem price: not a number",
        "line 5: Email: not a valid email address",
        "line 7: Created at: needs a UTC offset, e.g. +09:00",
        "line 7: Lineitem quantity: must be between 1 and 10000",
    ]
    assert not summary.all_loaded
    assert c.profiles.get_order("acme", "#2002") is None
    assert c.profiles.get_order("acme", "#2004") is not None


def test_rows_of_one_order_split_across_the_file_are_a_conflict(
    cloud: Cloud, shop: ShopKeys, tmp_path: Path
) -> None:
    # Given a generic file where A-1's second row comes after another order
    path = tmp_path / "split.csv"
    path.write_text(
        "order_id,customer_id,placed_at,sku,quantity,unit_price\n"
        "A-1,c-1,2024-01-01T10:00:00+09:00,S,1,100\n"
        "A-2,c-2,2024-01-02T10:00:00+09:00,S,1,100\n"
        "A-1,c-1,2024-01-01T10:00:00+09:00,T,1,200\n"
    )
    c = build(cloud.settings)

    # When imported
    with path.open(newline="") as f:
        summary = import_orders(f, "generic", "acme", c.profiles, c.publisher)

    # Then the first part of A-1 is stored, the stray part is reported, not merged or lost
    assert (summary.orders_imported, summary.orders_conflicting) == (2, 1)
    assert "line 4" in str(summary.errors[0])
    assert "not contiguous" in summary.errors[0].reason
    stored = c.profiles.get_order("acme", "A-1")
    assert stored is not None and [ln.sku for ln in stored.lines] == ["S"]


def test_historical_import_publishes_order_imported_to_the_messenger_only(
    cloud: Cloud, shop: ShopKeys
) -> None:
    """Given a publisher that records everything, and the bus routed to the queues
    When a file is imported twice (through the recorder, then the real bus)
    Then each imported order was published once as `order.imported`, never as
    `order.placed` (no welcome, exit or conversion for a two-year-old order), with the
    person's snapshot and the order's lines; the re-run publishes the same event ids
    again (it completes a crashed run; the messenger writes nothing twice); and the bus
    delivers it to the messenger's events function alone."""
    c = build(cloud.settings)
    recorder = RecordingPublisher()
    cloud.route_rules_to_queues()

    first = _run(c, "shopify_orders.csv", "shopify", recorder)
    _run(c, "shopify_orders.csv", "shopify")

    assert {e.type for e in recorder.published} == {"order.imported"}
    assert len(recorder.published) == first.orders_imported == 4
    by_order = {e.detail["order_id"]: e for e in recorder.published}
    assert sorted(by_order) == ["#1001", "#1002", "#1003", "#1005"]
    first_order = by_order["#1001"].detail
    assert [i["sku"] for i in first_order["items"]] == ["SERUM-30", "MASK-5"]
    assert first_order["placed_at"] == "2024-03-05T21:14:09+09:00"
    assert first_order["customer"]["email"] == "hanako.yamada@example.jp"
    delivered = cloud.take_events("MessengerEventsFunction")
    again = [EventEnvelope.from_eventbridge(e) for e in delivered]
    assert sorted(e.id for e in again) == sorted(e.id for e in recorder.published)
    assert {e.type for e in again} == {"order.imported"}
    assert all(cloud.take_events(fn) == [] for fn in cloud.queues)


def _copy(name: str, tmp_path: Path) -> str:
    target = tmp_path / name
    shutil.copy(DATA / name, target)
    return str(target)


def test_cli_imports_with_a_summary_and_exit_codes(
    cloud: Cloud, shop: ShopKeys, tmp_path: Path
) -> None:
    runner = CliRunner()
    good = _copy("shopify_orders.csv", tmp_path)
    bad = _copy("shopify_bad_rows.csv", tmp_path)

    # When a clean file is imported, then imported again
    first = runner.invoke(app, ["import", "orders", good, "--shop", "acme"])
    second = runner.invoke(app, ["import", "orders", good, "--shop", "acme"])

    # Then both succeed; the summary shows imports, then duplicates
    assert first.exit_code == 0, first.output
    assert re.search(r"orders imported\s*│\s*4 │", first.output)
    assert second.exit_code == 0, second.output
    assert re.search(r"duplicates skipped\s*│\s*4 │", second.output)

    # When a file with bad rows is imported
    result = runner.invoke(app, ["import", "orders", bad, "--shop", "acme", "--show-errors", "2"])

    # Then it exits 1 and prints the first errors by line, and how many more there are
    assert result.exit_code == 1, result.output
    assert "line 4: Lineitem price: not a number" in result.output
    assert "line 5: Email: not a valid email address" in result.output
    assert "and 2 more" in result.output
    assert "line 7" not in result.output

    # And a file of the wrong format, or an unknown shop, exits 2 before writing anything
    wrong = runner.invoke(app, ["import", "orders", good, "--shop", "acme", "--format", "generic"])
    assert wrong.exit_code == 2 and "order_id" in wrong.output
    unknown = runner.invoke(app, ["import", "orders", good, "--shop", "nope"])
    assert unknown.exit_code == 2 and "nope" in unknown.output


def test_imported_shipping_dates_drive_days_since_shipping(cloud: Cloud, shop: ShopKeys) -> None:
    # Given a Shopify export of an order fulfilled on 7 March 2024
    c = build(cloud.settings)
    header = "Name,Email,Created at,Currency,Total,Lineitem quantity,Lineitem price,"
    header += "Lineitem sku,Fulfillment Status,Fulfilled at"
    lines = [
        header,
        "#1,aoi@example.jp,2024-03-05 21:14:09 +0900,JPY,100,1,100,A,fulfilled,"
        "2024-03-07 10:00:00 +0900",
    ]

    # When it is imported
    summary = import_orders(lines, "shopify", "acme", c.profiles, c.publisher)

    # Then the order is stored shipped, and the profile's shipping date is set, so a
    # "30+ days since shipping" segment finds the customer
    assert summary.orders_imported == 1
    order = c.profiles.get_order("acme", "#1")
    assert order is not None and order.status == "shipped"
    profile = _profile_by_email(c, "aoi@example.jp")
    assert profile.last_shipped_at == datetime(2024, 3, 7, 10, tzinfo=JST)
    rule = {"field": "last_shipped_at", "op": "older_than_days", "value": 30}
    then = c.replaced(clock=lambda: datetime(2024, 4, 10, tzinfo=UTC))
    assert then.segments.preview("acme", rule) == (
        1,
        [profile.customer_id],
    )


SHOPIFY_HEADER = (
    "Name,Email,Created at,Currency,Total,Lineitem quantity,Lineitem price,Lineitem sku,"
    "Billing Name,Billing Country,Financial Status,Refunded Amount,Source\n"
)


def test_a_partial_refund_in_the_export_is_taken_off_revenue_and_gross_profit(
    cloud: Cloud, shop: ShopKeys
) -> None:
    # Given an export with two orders of 3000, the second partially refunded (1000)
    c = build(cloud.settings)
    lines = [
        SHOPIFY_HEADER,
        "#1,aoi@example.jp,2024-03-05 21:14:09 +0900,JPY,3000,1,3000,A,鈴木 葵,JP,paid,,web\n",
        "#2,aoi@example.jp,2024-04-05 21:14:09 +0900,JPY,3000,1,3000,A,鈴木 葵,JP,"
        "partially_refunded,1000.00,web\n",
    ]

    # When it is imported
    summary = import_orders(lines, "shopify", "acme", c.profiles, c.publisher)

    # Then both orders count, and revenue, gross profit and AOV are net of the refund
    assert (summary.orders_imported, summary.error_count) == (2, 0)
    aoi = _profile_by_email(c, "aoi@example.jp")
    assert aoi.order_count == 2
    assert (aoi.stats.revenue, aoi.stats.gross_profit) == (Decimal(5000), Decimal(5000))
    assert aoi.stats.average_order_value == Decimal("2500.00")
    # And her name is stored family name first
    assert (aoi.contact.last_name, aoi.contact.first_name) == ("鈴木", "葵")


def test_an_imported_japanese_customer_is_greeted_by_her_family_name_in_the_mail_sent(
    cloud: Cloud, shop: ShopKeys, segmenter_client: TestClient, messenger_client: TestClient
) -> None:
    # Given a Shopify export in which 鈴木 葵 (Japanese address) bought once
    cloud.route_rules_to_queues()
    c = build(cloud.settings)
    history = [
        SHOPIFY_HEADER,
        "#1,aoi@example.jp,2024-03-05 21:14:09 +0900,JPY,3000,1,3000,A,鈴木 葵,JP,paid,,web\n",
    ]
    assert import_orders(history, "shopify", "acme", c.profiles, c.publisher).orders_imported == 1
    # And her next order arrives live, without a name, with her email opt-in
    live = order_payload(
        2,
        customer={
            "email": "aoi@example.jp",
            "consents": [{"channel": "email", "granted": True, "source": "checkout"}],
        },
    )
    placed = segmenter_client.post("/v1/orders", json=live, headers=shop.header(shop.events))
    assert placed.status_code == 201, placed.text
    customer_id = placed.json()["customer_id"]
    for event in cloud.take_events("MessengerEventsFunction"):
        messenger_events.handler(event, None)
    # And a mail whose greeting is the family name with 様
    admin = shop.header(shop.admin)
    message = {
        "message_id": "thanks",
        "name": "thanks",
        "email": {
            "subject": "{{ customer.last_name }}様へのお知らせ",
            "html": "<p>{{ customer.last_name }}様</p>",
            "text": "{{ customer.last_name }}様、いつもありがとうございます。",
        },
    }
    assert messenger_client.post("/v1/messages", json=message, headers=admin).status_code == 201

    # When it is sent to her
    sent = messenger_client.post(
        "/v1/messages/thanks/sends",
        json={"customer_id": customer_id, "anchor": "spring"},
        headers=admin,
    )

    # Then the mail as sent greets 鈴木様, not 葵様
    assert sent.status_code == 202, sent.text
    assert sent.json()["status"] == "sent"
    (mail,) = cloud.sent_mail()
    mime = message_from_string(mail.raw_data, policy=policy.default)
    assert isinstance(mime, EmailMessage)
    assert str(mime["Subject"]) == "鈴木様へのお知らせ"
    body = mime.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().startswith("鈴木様、いつもありがとうございます。")
    assert "葵様" not in body.get_content()


def _generic_lines(orders: int, customers: int) -> list[str]:
    header = (
        "order_id,customer_id,email,phone,first_name,last_name,placed_at,currency,total,sku,"
        "category,quantity,unit_price,list_price,unit_cost,sales_channel,coupon,"
        "accepts_email_marketing,status\n"
    )
    lines = [header]
    for n in range(orders):
        c = n % customers
        placed = f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T09:30:00+09:00"
        lines.append(
            f"B-{n},c-{c},c{c}@example.jp,,Hanako,Yamada,{placed},JPY,1000,SKU-{n % 7},"
            "skincare,1,1000,,,web,,yes,\n"
        )
    return lines


def test_a_large_file_is_written_in_batches_with_the_same_result(
    cloud: Cloud, shop: ShopKeys, segmenter_client: TestClient
) -> None:
    # Given 300 orders of 40 customers, one of which the storefront already sent live
    # with other content, and a repository whose DynamoDB requests are counted
    from segmenter.adapters.repository import DynamoProfileRepository
    from shared.adapters.dynamodb import RequestCounter

    c = build(cloud.settings)
    table = cloud.settings.segmenter_table
    live = order_payload(1, "c-30", "c30@example.jp", order_id="B-150", total="5000")
    sent = segmenter_client.post("/v1/orders", json=live, headers=shop.header(shop.events))
    assert sent.status_code == 201
    counter = RequestCounter(table=table).attach(cloud.dynamodb)
    repo = DynamoProfileRepository(cloud.dynamodb, table)

    # When the file is imported
    summary = import_orders(_generic_lines(300, 40), "generic", "acme", repo, c.publisher)
    requests = Counter(counter.calls)

    # Then every other order landed, the live one is reported as a conflict, not overwritten
    assert (summary.orders_imported, summary.orders_conflicting) == (299, 1)
    profiles = [repo.get_profile("acme", f"c-{k}") for k in range(40)]
    assert all(p is not None for p in profiles)
    assert sum(p.order_count for p in profiles if p is not None) == 300  # and the live one
    stored = repo.get_order("acme", "B-150")
    assert stored is not None and stored.total == Decimal(5000)
    # And it took a few requests per hundred orders, not two or three per order
    assert requests.total() <= 30, requests  # 300 orders one by one: 900
    # And a second run changes nothing, with reads only (a few per batch)
    before = _item_count(cloud)
    counter.calls.clear()
    again = import_orders(_generic_lines(300, 40), "generic", "acme", repo, c.publisher)
    assert (again.orders_imported, again.duplicates_skipped) == (0, 299)
    assert _item_count(cloud) == before
    assert Counter(counter.calls).total() <= 20, counter.calls
