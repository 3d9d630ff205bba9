"""`kizuna cost`: the monthly AWS bill from per-operation counts and the list prices file,
checked by hand on a small shop; the counts it calls measured are what bench/ measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ops.cli import app
from ops.cost import (
    COUNTS,
    PRICES_FILE,
    Workload,
    load_hosted_tools,
    load_prices,
    monthly_cost,
    total,
)

ROOT = Path(__file__).resolve().parents[2]
SMALL = Workload(
    customers=1000, orders_per_month=100, messages_per_month=1000, sms_share=0.1, line_share=0.0
)


def test_a_small_shop_costs_the_hand_computed_figure() -> None:
    # Given 1,000 customers, 100 orders and 1,000 messages (100 of them SMS) a month
    # When its month is priced
    lines = {line.price: line for line in monthly_cost(SMALL)}
    # Then each quantity is the hand computation from the counts
    #   segment events: 100 orders x 1 + 1,000 x 2 % x 30 nights = 700
    #   writes: 100 x 10 (ingest) + 100 x 6 (messenger) + 1,000 x (9 + 8 + 8) (sends,
    #           journey weeks, week people marks) + 100 x 2 (the orders' segment count
    #           shards) + 600 x 2 (nightly)
    #   reads: 100 x 3 + 100 x 2 + 1,000 x 1 + 43,200 ticks x 16 shards x 0.5
    #          + 30 nights x 1,000 profiles x 2 KB / 4 KB x 0.5 x 2 scans
    #   stored: 1,000 x 2.5 KB + 100 x 24 months x 1 KB + 1,000 x 3 months x 0.5 KB
    #           + 1,000 x 13 months x 0.1 KB (week marks) = 7,700 KB
    #   invocations: 2 x 100 + 2 x 700 + 1,000 message.sent = 2,600
    #   nightly invocations: 30 x (Plan, Pools, Finish + 16 Rank + 16 Apply + analytics) = 1,080
    #   GB-s: (100 + 2,600) x 0.04 s x 0.5 + 1,000 x 0.03 x 0.5 + 43,200 x 0.1 x 0.5
    #         + 30 x 1,000 x 0.000173 x 3008/1024 + 30 x 1,000 x 0.000174 x 10240/1024
    #   state transitions: 30 x (5 top-level + 2 maps x 16 children x 2) = 2,070
    expected = {
        "dynamodb_write_request_unit": 28_000,
        "dynamodb_read_request_unit": 362_100,
        "dynamodb_storage_gb_month": 7_700 / 1024**2,
        "dynamodb_pitr_gb_month": 7_700 / 1024**2,
        "eventbridge_custom_event": 100 + 700 + 1_000,
        "lambda_request": 100 + 2_600 + 43_200 + 1_080,
        "lambda_arm_gb_second": 2_296.445625,
        "api_gateway_http_request": 100,
        "ses_email": 900,
        "sns_sms_japan": 100,
        "s3_storage_gb_month": 340 / 1024**2,
        "s3_put_request": 600,
        "s3_get_request": 3_000,
        "step_functions_state_transition": 30 * (5 + 2 * 16 * 2),
    }
    assert {k: line.quantity for k, line in lines.items()} == pytest.approx(expected)
    # And the month is 7.71 USD (7.45 of it the SMS), worked out by hand from the prices:
    # 28,000 x 0.715e-6 + 362,100 x 0.1425e-6 + 7,700 KB x (0.285 + 0.228) per GB
    # + 1,800 x 1e-6 + 46,980 x 0.2e-6 + 2,296.45 x 0.0000133334 + 100 x 1.29e-6
    # + 900 x 0.0001 + 100 x 0.0745 + 340 KB x 0.025 per GB + 600 x 4.7e-6 + 3,000 x 3.7e-7
    # + 2,070 x 0.025e-3
    assert total(list(lines.values())) == pytest.approx(7.713019, abs=1e-6)
    # And every line is in the total, the nightly's state machine too
    assert all(line.in_total for line in lines.values())


def test_every_price_names_its_source_page_and_date() -> None:
    data = json.loads(PRICES_FILE.read_text(encoding="utf-8"))
    assert data["region"] == "ap-northeast-1" and data["currency"] == "USD"
    for name, price in load_prices().items():
        assert price.usd > 0 and price.per >= 1, name
        assert price.source.startswith("https://aws.amazon.com/"), name
        assert price.recorded[:2] == "20" and len(price.recorded) == 10, name
        # And how it was checked, dated, so an unconfirmed figure says so
        assert price.checked[:4] == price.recorded[:4] and len(price.checked) > 30, name


def _bench(module: str, customers: int) -> dict[str, float]:
    """The figures a bench prints as its last (JSON) line, run in its own process (a bench
    sets its own AWS environment)."""
    code = f"import bench.{module} as b; b.main(customers={customers})"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def test_the_counts_called_measured_are_what_the_benches_measure() -> None:
    # Given the benches that count DynamoDB requests per order and per delivered message
    # When they run on a few customers
    per_order = _bench("dynamodb_requests", 6)
    per_message = _bench("messenger_requests", 6)
    # Then the cost model's counts are their figures
    assert COUNTS["ingest_ddb_requests"].value == per_order["repeat_order"]
    assert COUNTS["send_ddb_requests"].value == per_message["api_send"]
    assert COUNTS["send_ddb_requests"].value == per_message["campaign_delivery"]


def test_the_cli_prints_the_lines_and_the_total() -> None:
    # When `kizuna cost` runs for the small shop
    result = CliRunner().invoke(
        app,
        [
            "cost",
            "--customers", "1000",
            "--orders-per-month", "100",
            "--messages-per-month", "1000",
            "--sms-share", "0.1",
            "--sources",
        ],
    )  # fmt: skip
    # Then it prints each service's line and the hand-computed total
    assert result.exit_code == 0, result.output
    assert "total: 7.71 USD a month" in result.output
    for service in ("DynamoDB", "EventBridge", "Lambda", "SES", "SNS", "S3", "Step Functions"):
        assert service in result.output
    # And where each count comes from
    assert "bench/dynamodb_requests.py" in result.output
    assert "https://aws.amazon.com/dynamodb/pricing/on-demand/" in result.output


def test_shares_above_one_are_refused_naming_the_option() -> None:
    result = CliRunner().invoke(
        app,
        ["cost", "--customers", "1", "--orders-per-month", "1", "--messages-per-month", "1",
         "--sms-share", "0.6", "--line-share", "0.6"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "sms-share" in result.output


def test_a_hosted_tools_list_price_is_printed_beside_the_bill() -> None:
    # Given the hosted tools' list prices file
    klaviyo, sendgrid = load_hosted_tools()
    # When a shop of 100,000 customers, one of 50,000 and one of a million is priced
    # Then Klaviyo's tier that holds them is named, and past its last tier no price is made up
    assert klaviyo.monthly(100_000) == (1380.0, "the 100,000-profile tier")
    assert klaviyo.monthly(50_000)[0] == 1380.0
    assert klaviyo.monthly(1_000_000) == (
        None,
        "custom pricing (contact sales) above 250,000 profiles",
    )
    # And SendGrid's add-on is free up to 2,000 contacts, then 1,500 JPY per started 10,000
    assert sendgrid.monthly(2_000)[0] == 0
    assert sendgrid.monthly(100_000)[0] == 15_000
    assert sendgrid.monthly(100_001)[0] == 15_000
    assert sendgrid.monthly(102_001)[0] == 16_500
    # And the CLI prints them under the total, with where each price comes from
    result = CliRunner().invoke(
        app,
        ["cost", "--customers", "100000", "--orders-per-month", "5000",
         "--messages-per-month", "800000", "--sources"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "beside it, Klaviyo Email: 1,380 USD a month (the 100,000-profile tier" in result.output
    assert "15,000 JPY a month" in result.output
    assert "https://www.klaviyo.com/pricing" in result.output
