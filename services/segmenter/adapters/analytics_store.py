"""The analytics bucket (S3): the Parquet snapshot, the facts the reports are read from,
and the status of each shop's pass.

- ``orders/shop=<shop>/part-0.parquet``, ``customers/shop=<shop>/part-0.parquet``
  (Hive-style partitions: Athena, DuckDB and BI tools read them as tables with a `shop`
  column; the template's Glue tables use partition projection on it)
- ``customer_states/shop=<shop>/part-0.parquet``: each buyer's state, previous state,
  recency and frequency at each month end (what the list diagnosis counts)
- ``cells/shop=<shop>/month=<YYYY-MM>/part-0.json``: the same per month as JSON lines, one
  line per (state, previous, recency, frequency) with its customer ids: what a
  drill-down into an earlier month's cell reads (the API functions carry no Parquet reader)
- ``cohorts/shop=<shop>/month=<YYYY-MM>/part-0.json``: a first-purchase month's buyers as
  JSON lines: per (stage, second-purchase bucket, channel, first product, first offer)
  and per month since the first (retention), with their customer ids
- ``reports/shop=<shop>/facts.json``: the facts of the last pass, with its as-of day
- ``reports/shop=<shop>/status.json``: queued | running | ready | failed, and when
- ``segment-lists/shop=<shop>/<segment>.json``: a saved cell's tag and customer ids, from
  the API call until the event function has tagged them (then deleted)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from segmenter.services.ports import AnalyticsStore


def table_key(shop_id: str, table: str, part: int = 0) -> str:
    return f"{table}/shop={shop_id}/part-{part}.parquet"


def cells_key(shop_id: str, month: str, kind: str = "cells") -> str:
    return f"{kind}/shop={shop_id}/month={month}/part-0.json"


def report_key(shop_id: str, name: str) -> str:
    return f"reports/shop={shop_id}/{name}.json"


def listed_key(shop_id: str, segment_id: str) -> str:
    return f"segment-lists/shop={shop_id}/{segment_id}.json"


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

    def put_cells(self, shop_id: str, month: str, path: Path, kind: str = "cells") -> None:
        self._client.upload_file(
            str(path),
            self._bucket,
            cells_key(shop_id, month, kind),
            ExtraArgs={"ContentType": "application/x-ndjson"},
        )

    def get_cells(
        self, shop_id: str, month: str, kind: str = "cells"
    ) -> list[dict[str, Any]] | None:
        try:
            got = self._client.get_object(Bucket=self._bucket, Key=cells_key(shop_id, month, kind))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        lines = got["Body"].read().decode("utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def put_listed(
        self, shop_id: str, segment_id: str, tag: str, customer_ids: Sequence[str]
    ) -> None:
        body = {"tag": tag, "customer_ids": list(customer_ids)}
        self._client.put_object(
            Bucket=self._bucket,
            Key=listed_key(shop_id, segment_id),
            Body=json.dumps(body, ensure_ascii=False).encode(),
            ContentType="application/json",
        )

    def get_listed(self, shop_id: str, segment_id: str) -> tuple[str, list[str]] | None:
        try:
            got = self._client.get_object(Bucket=self._bucket, Key=listed_key(shop_id, segment_id))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        value = json.loads(got["Body"].read())
        return str(value["tag"]), [str(c) for c in value["customer_ids"]]

    def delete_listed(self, shop_id: str, segment_id: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=listed_key(shop_id, segment_id))
