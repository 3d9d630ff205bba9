"""`kizuna shop create` makes a shop and prints its first key once."""

from __future__ import annotations

from typer.testing import CliRunner

from messenger.domain.week import week_of
from ops.cli import app
from shared import clock as shared_clock
from shared.auth.service import authenticate_token
from tests.conftest import Cloud


def test_shop_create_prints_a_working_admin_key(cloud: Cloud) -> None:
    """Given the CLI, When `kizuna shop create my-shop` runs, Then its last line is a
    working admin key, stored only as a hash, and the messenger reads the new shop's
    week tiles from their partitions and its campaigns' week figures from their counters
    from this week on (nothing older to read)."""
    runner = CliRunner()

    result = runner.invoke(app, ["shop", "create", "my-shop", "--name", "My Shop"])

    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    principal = authenticate_token(cloud.keys, token)
    assert principal.shop_id == "my-shop"
    assert principal.allows("admin")
    stored = cloud.dynamodb.scan(TableName=cloud.settings.platform_table)["Items"]
    assert token.split(".")[-1] not in str(stored)
    marks = [
        cloud.dynamodb.get_item(
            TableName=cloud.settings.journeys_table,
            Key={"pk": {"S": "WEEKS#my-shop"}, "sk": {"S": sk}},
        )["Item"]["since"]["S"]
        for sk in ("SINCE", "CAMPAIGNS", "PEOPLE")
    ]
    assert marks == [week_of(shared_clock.now()).isoformat()] * 3


def test_shop_create_refuses_a_duplicate_and_a_bad_id(cloud: Cloud) -> None:
    runner = CliRunner()
    runner.invoke(app, ["shop", "create", "my-shop", "--name", "My Shop"])

    again = runner.invoke(app, ["shop", "create", "my-shop", "--name", "Again"])
    bad = runner.invoke(app, ["shop", "create", "My Shop!", "--name", "x"])

    assert again.exit_code == 1 and "already exists" in again.output
    assert bad.exit_code == 1 and "shop_id" in bad.output
