"""Fake event handler: counts deliveries in DynamoDB and fails on request.

It uses a plain boto3 client built from the environment, as the real handlers do, so a
delivery proves that the local stack's environment points at moto.
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3

SCHEDULE_CALLS: list[dict[str, Any]] = []
RESETS: list[str] = []


def reset() -> None:
    """Called by the local stack after it (re)sets the environment."""
    RESETS.append(os.environ.get("KIZUNA_PUBLIC_BASE_URL", ""))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Count an EventBridge event per detail key, or record a schedule firing."""
    if "schedule" in event:
        SCHEDULE_CALLS.append(event)
        return {"fired": event["schedule"]}
    detail = event["detail"]
    if detail.get("fail"):
        raise RuntimeError("asked to fail")
    if detail.get("slow"):
        time.sleep(float(detail["slow"]))  # lets a test stop the stack with a backlog
    client = boto3.client("dynamodb")
    client.update_item(
        TableName=os.environ["KIZUNA_APP_TABLE"],
        Key={"pk": {"S": f"thing#{detail['key']}"}, "sk": {"S": "count"}},
        UpdateExpression="ADD seen :one SET detail_type = :dt",
        ExpressionAttributeValues={":one": {"N": "1"}, ":dt": {"S": event["detail-type"]}},
    )
    return {"ok": True}
