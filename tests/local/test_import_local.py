"""`kizuna import orders --local`: the file is streamed to the running local stack, which
imports it beside moto (`POST /_local/import/orders`), with the same summary, exit codes
and writes as an import the CLI runs itself."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ops.cli import app
from ops.local.stack import LocalStack, find_template
from segmenter.bootstrap import build
from shared import aws
from shared.auth.service import create_shop
from shared.auth.store import DynamoKeyStore
from shared.settings import get_settings

pytestmark = pytest.mark.e2e
DATA = Path(__file__).parent.parent / "segmenter" / "data"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with pytest.MonkeyPatch.context() as mp:
        for name in [k for k in os.environ if k.startswith(("AWS_", "KIZUNA_"))]:
            mp.delenv(name)
        mp.setenv("KIZUNA_LOG_LEVEL", "WARNING")
        get_settings.cache_clear()
        with tempfile.TemporaryDirectory(prefix="kizuna-import-") as state:
            local = LocalStack(find_template(), state_dir=Path(state), auto_schedule=False)
            local.start()
            try:
                endpoints = {"api": local.api_base_url, "environment": local.environment}
                (Path(state) / "endpoints.json").write_text(json.dumps(endpoints))
                settings = get_settings()
                client = aws.client(aws.session(settings.aws_region), "dynamodb")
                create_shop(DynamoKeyStore(client, settings.platform_table), "acme", "Acme")
                yield local
            finally:
                local.stop()
                get_settings.cache_clear()


def _import(stack: LocalStack, name: str, *extra: str) -> tuple[int, str]:
    assert stack.state_dir is not None
    args = ["import", "orders", str(DATA / name), "--local", "--state-dir", str(stack.state_dir)]
    result = CliRunner().invoke(app, [*args, *extra])
    return result.exit_code, result.output


def test_an_import_into_the_stack_runs_there_with_the_cli_s_summary(stack: LocalStack) -> None:
    """Given a running local stack with a shop
    When a Shopify export is imported with --local, then again
    Then the first run imports every order and the second skips them all as duplicates;
    the orders are in the stack's table, and no mail went out for them."""
    code, output = _import(stack, "shopify_orders.csv", "--shop", "acme")
    assert code == 0, output
    assert re.search(r"orders imported\s*│\s*4 │", output)

    again, output = _import(stack, "shopify_orders.csv", "--shop", "acme")
    assert again == 0, output
    assert re.search(r"duplicates skipped\s*│\s*4 │", output)

    assert build().profiles.get_order("acme", "#1001") is not None
    stack.drain(timeout=60)
    assert stack.sandbox_messages() == []


def test_bad_rows_a_wrong_format_and_an_unknown_shop_keep_their_exit_codes(
    stack: LocalStack,
) -> None:
    """Given a running local stack with a shop
    When a file with bad rows, a file in the wrong format, or an unknown shop is imported
    Then the exit codes and messages are those of an import the CLI runs itself: 1 with
    the first errors by line, 2 naming the header's missing column, 2 naming the shop."""
    code, output = _import(stack, "shopify_bad_rows.csv", "--shop", "acme", "--show-errors", "2")
    assert code == 1, output
    assert "line 4: Lineitem price: not a number" in output
    assert "and 2 more" in output

    wrong, output = _import(stack, "shopify_orders.csv", "--shop", "acme", "--format", "generic")
    assert wrong == 2 and "order_id" in output

    unknown, output = _import(stack, "shopify_orders.csv", "--shop", "nope")
    assert unknown == 2 and "nope" in output


def test_the_import_route_names_a_bad_parameter(stack: LocalStack) -> None:
    """Given a running local stack
    When the import route is called with an unknown encoding or format
    Then it answers 422 naming the parameter, before reading the file."""
    url = f"{stack.api_base_url}/_local/import/orders"
    for params, field in (
        ({"shop": "acme", "encoding": "klingon"}, "encoding"),
        ({"shop": "acme", "format": "excel"}, "format"),
        ({"format": "shopify"}, "shop"),
    ):
        response = httpx.post(url, params=params, content=b"Name\n", timeout=30)
        assert response.status_code == 422
        assert [f["field"] for f in response.json()["error"]["fields"]] == [field]
