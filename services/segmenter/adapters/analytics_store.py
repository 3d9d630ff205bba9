"""The analytics bucket (S3): the Parquet snapshot, the facts the reports are read from,
and the status of each shop's pass.

- ``orders/shop=<shop>/part-0.parquet``, ``customers/shop=<shop>/part-0.parquet``
  (Hive-style partitions: Athena, DuckDB and BI tools read them as tables with a `shop`
  column; the template's Glue tables use partition projection on it)
- ``reports/shop=<shop>/facts.json``: the facts of the last pass, with its as-of day
- ``reports/shop=<shop>/status.json``: queued | running | ready | failed, and when
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

SNAPSHOT_TABLES = ("orders", "customers")


class AnalyticsStore:
    """Port. Test fakes subclass it."""

    def put_table(self, shop_id: str, table: str, path: Path) -> str:
        raise NotImplementedError

    def put_json(self, shop_id: str, name: str, value: dict[str, Any]) -> None:
        raise NotImplementedError

    def get_json(self, shop_id: str, name: str) -> dict[str, Any] | None:
        raise NotImplementedError


def table_key(shop_id: str, table: str, part: int = 0) -> str:
    return f"{table}/shop={shop_id}/part-{part}.parquet"


def report_key(shop_id: str, name: str) -> str:
    return f"reports/shop={shop_id}/{name}.json"


class S3AnalyticsStore(AnalyticsStore):
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put_table(self, shop_id: str, table: str, path: Path) -> str:
        key = table_key(shop_id, table)
        self._client.upload_file(str(path), self._bucket, key)
        return f"s3://{self._bucket}/{key}"

    def put_json(self, shop_id: str, name: str, value: dict[str, Any]) -> None:
        self._client.put_object(
            Bucket=self._bucket,
            Key=report_key(shop_id, name),
            Body=json.dumps(value, ensure_ascii=False, default=str).encode(),
            ContentType="application/json",
        )

    def get_json(self, shop_id: str, name: str) -> dict[str, Any] | None:
        try:
            got = self._client.get_object(Bucket=self._bucket, Key=report_key(shop_id, name))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        value: dict[str, Any] = json.loads(got["Body"].read())
        return value
