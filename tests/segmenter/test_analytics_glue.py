"""The Glue tables in the template describe the Parquet files the pass writes, so Athena
and a BI tool read the snapshot with the same columns: same names in the same order,
the types Athena reads them as, partitioned by shop where the store puts the files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from ops.local.template import load_template
from segmenter.adapters.analytics_store import table_key
from tests.conftest import TEMPLATE
from tests.segmenter.test_analytics_snapshot import _pass
from tests.segmenter.test_clv_pass import shop

ATHENA_TYPE = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp",
    "DATE": "date",
    "BOOLEAN": "boolean",
    "DOUBLE": "double",
    "INTEGER": "int",
    "BIGINT": "bigint",
}
TABLES = {
    "orders": "AnalyticsOrdersTable",
    "customers": "AnalyticsCustomersTable",
    "customer_states": "AnalyticsCustomerStatesTable",
}


def test_glue_tables_describe_the_parquet_files_the_pass_writes(tmp_path: Path) -> None:
    # Given the Parquet files of a pass over a small shop
    data = shop(30)
    result = _pass([*data.profiles, *data.orders], 1000, tmp_path)
    resources: dict[str, Any] = load_template(TEMPLATE)["Resources"]
    for table, logical_id in TABLES.items():
        # When the file's schema is read as DuckDB (and Athena) sees it
        described = (
            duckdb.connect()
            .execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(result.files[table])])
            .fetchall()
        )
        in_file = [(str(name), ATHENA_TYPE[str(kind)]) for name, kind, *_ in described]
        # Then the template's table has those columns, in that order, with those types
        glue = resources[logical_id]["Properties"]["TableInput"]
        assert glue["Name"] == table
        columns = [(c["Name"], c["Type"]) for c in glue["StorageDescriptor"]["Columns"]]
        assert columns == in_file, table
        # And the shop partition is where the store writes the file
        assert glue["PartitionKeys"] == [{"Name": "shop", "Type": "string"}]
        template = glue["Parameters"]["storage.location.template"]["Fn::Sub"]
        assert template == f"s3://${{AnalyticsBucket}}/{table}/shop=${{!shop}}/"
        key = table_key("acme", table)
        assert key.startswith(f"{table}/shop=acme/") and key.endswith(".parquet")
        assert glue["Parameters"]["projection.shop.type"] == "injected"
