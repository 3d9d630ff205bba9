"""DynamoDB requests per ingested order, counted (not timed): deterministic, so it can be
compared across machines. Target: at most 3 per order.

Runs the real ingest use case against moto in-process with the tables of the SAM
template, for first orders of new customers and repeat orders of known ones, and counts
every request the segmenter makes to its table (warm container: segment rules cached).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))
sys.path.insert(0, str(ROOT))

from bench.harness import create_tables  # noqa: E402

os.environ.update(
    AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="ap-northeast-1"
)
os.environ.pop("AWS_ENDPOINT_URL", None)


def main(customers: int = 100) -> dict[str, float]:
    import boto3
    from moto import mock_aws

    from segmenter import bootstrap
    from segmenter.domain.commands import RecordOrder
    from segmenter.domain.model import Consent, Contact, Order, OrderLine
    from shared.adapters.dynamodb import RequestCounter
    from shared.settings import Settings

    with mock_aws():
        ddb = boto3.client("dynamodb")
        names = create_tables(ddb)
        boto3.client("events").create_event_bus(Name="bench")
        settings = Settings(
            segmenter_table=names["SegmenterTable"],
            platform_table=names["PlatformTable"],
            event_bus_name="bench",
            sandbox=True,
        )
        container = bootstrap.build(settings)
        counter = RequestCounter(table=settings.segmenter_table)
        counter.attach(container.profiles._client)  # type: ignore[attr-defined]
        start = datetime(2026, 1, 1, tzinfo=UTC)
        per_order: dict[str, list[int]] = {"first_order": [], "repeat_order": []}
        for n in range(2):
            for i in range(customers):
                cid = f"c{i}"
                order = Order(
                    order_id=f"o{i}-{n}",
                    customer_id=cid,
                    placed_at=start + timedelta(days=n * 40 + i % 30),
                    currency="JPY",
                    total=Decimal(3980),
                    lines=(OrderLine("SERUM", 1, Decimal(3980), "skincare"),),
                )
                contact = Contact(email=f"{cid}@example.jp")
                consent = (Consent("email", "marketing", True, "checkout", start),)
                counter.reset()
                container.ingest.handle(RecordOrder(f"e{i}-{n}", "bench", order, contact, consent))
                per_order["first_order" if n == 0 else "repeat_order"].append(counter.count)
    result = {kind: sum(v) / len(v) for kind, v in per_order.items()}
    result["max"] = max(max(v) for v in per_order.values())
    print(f"DynamoDB requests per ingested order ({customers} customers, 2 orders each):")
    for kind, value in result.items():
        print(f"  {kind:14} {value:.2f}")
    print(json.dumps({"benchmark": "dynamodb_requests_per_order", "target_max": 3, **result}))
    return result


if __name__ == "__main__":
    main()
