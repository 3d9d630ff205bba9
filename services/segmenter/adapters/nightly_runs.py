"""A nightly fan-out run's working files in the analytics bucket (S3), under
``nightly/<run>/``: the plan, each child's RFM pool share and its done marker. Kept
between the state machine's steps (a step's output is limited to 256 KB) and read again
when a failed run is redriven. The bucket's lifecycle is the analytics bucket's."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from segmenter.services.ports import NightlyRuns


def run_key(run: str, name: str) -> str:
    return f"nightly/{run}/{name}"


class S3NightlyRuns(NightlyRuns):
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put_json(self, run: str, name: str, value: Mapping[str, Any]) -> None:
        body = json.dumps(value, sort_keys=True).encode()
        self._client.put_object(Bucket=self._bucket, Key=run_key(run, f"{name}.json"), Body=body)

    def get_json(self, run: str, name: str) -> dict[str, Any] | None:
        body = self._get(run_key(run, f"{name}.json"))
        if body is None:
            return None
        value: dict[str, Any] = json.loads(body)
        return value

    def put_arrays(self, run: str, name: str, arrays: Mapping[str, Any]) -> None:
        import numpy as np  # the nightly's only: the API functions never load numpy

        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        key = run_key(run, f"{name}.npz")
        self._client.put_object(Bucket=self._bucket, Key=key, Body=buffer.getvalue())

    def get_arrays(self, run: str, name: str) -> dict[str, Any] | None:
        body = self._get(run_key(run, f"{name}.npz"))
        if body is None:
            return None
        import numpy as np

        with np.load(io.BytesIO(body), allow_pickle=False) as loaded:
            return {k: loaded[k] for k in loaded.files}

    def _get(self, key: str) -> bytes | None:
        try:
            got = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        body: bytes = got["Body"].read()
        return body
