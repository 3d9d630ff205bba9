"""DynamoDB requests per delivered message, counted (not timed): deterministic, so it can
be compared across machines. Target: at most 3 per delivered message.

Runs the real send path (`Messaging.send_batch`) against moto in-process with the
tables of the SAM template and the sandbox providers (moto SES/SNS, LINE sandbox file),
in a warm container: message definitions and the shop policy are cached, so a delivery
costs the recipient Query (profile + unsubscribes), the claim transaction (intent,
unsubscribe/suppression checks, cap slot; for a campaign also its record and counter)
and the `sent` write. Single API sends and campaign deliveries are counted apart.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))
sys.path.insert(0, str(ROOT))

from bench.harness import create_tables, line_sandbox  # noqa: E402

os.environ.update(
    AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="ap-northeast-1"
)
os.environ.pop("AWS_ENDPOINT_URL", None)


def main(customers: int = 60) -> dict[str, float]:
    """The bench, its LINE sandbox file removed afterwards."""
    with line_sandbox():
        return _run(customers)


def _run(customers: int) -> dict[str, float]:
    import boto3
    from moto import mock_aws

    from messenger import bootstrap, services
    from messenger.domain.message import EmailContent, LineContent, Message, SmsContent
    from messenger.services.sending import SendRequest
    from shared.adapters.dynamodb import RequestCounter
    from shared.contracts import details
    from shared.settings import Settings

    noon_jst = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    with mock_aws():
        ddb = boto3.client("dynamodb")
        names = create_tables(ddb)
        boto3.client("events").create_event_bus(Name="bench")
        boto3.client("sesv2").create_email_identity(EmailIdentity="shop@example.com")
        settings = Settings(
            messenger_table=names["MessengerTable"],
            platform_table=names["PlatformTable"],
            event_bus_name="bench",
            sandbox=True,
        )
        container = bootstrap.build(settings)
        container = container.replaced(clock=lambda: noon_jst)
        pipeline = container.pipeline
        channels = ("email", "line", "sms")
        for i in range(customers + 1):  # the last one: the campaign's warm-up
            channel = channels[i % 3]
            snapshot = details.CustomerSnapshot(
                customer_id=f"c{i}",
                email=f"c{i}@example.jp" if channel == "email" else None,
                line_user_id=("U" + f"{i:032x}") if channel == "line" else None,
                phone=f"090-1234-{i:04d}" if channel == "sms" else None,
                last_name="山田",
                consents=[
                    details.ConsentSnapshot(channel=c, granted=True, source="bench")
                    for c in channels
                ],
            )
            services.record_customer(container.adapters.recipients, "bench", snapshot, noon_jst)
        container.library.save(
            Message(
                "sale",
                "bench",
                "Sale",
                email=EmailContent("{{ customer.last_name }}様", "<p>セール</p>", "セール"),
                line=LineContent(text="{{ customer.last_name }}様 セール"),
                sms=SmsContent("{{ customer.last_name }}様 セール"),
            )
        )
        counter = RequestCounter(table=settings.messenger_table)
        counter.attach(container.adapters.messages._inner._client)  # type: ignore[attr-defined]
        pipeline.send(SendRequest("bench", "sale", "c0", "api:warm", "warm"))  # warm caches
        warm = SendRequest(
            "bench", "sale", f"c{customers}", "campaign:warm", "warm", campaign_id="spring"
        )
        assert pipeline.send_batch([warm])[0].status == "sent"  # its week: read once a process
        per: dict[str, list[int]] = {"api_send": [], "campaign_delivery": []}
        for i in range(customers):
            counter.reset()
            outcome = pipeline.send(SendRequest("bench", "sale", f"c{i}", "api:sale", "a1"))
            assert outcome.status == "sent", outcome
            per["api_send"].append(counter.count)
        for i in range(customers):
            counter.reset()
            outcome = pipeline.send_batch(
                [
                    SendRequest(
                        "bench",
                        "sale",
                        f"c{i}",
                        "campaign:spring",
                        "spring",
                        campaign_id="spring",
                        variant="A",
                    )
                ]
            )[0]
            assert outcome.status == "sent", outcome
            per["campaign_delivery"].append(counter.count)
    result: dict[str, float] = {kind: sum(v) / len(v) for kind, v in per.items()}
    result["max"] = max(max(v) for v in per.values())
    print(f"DynamoDB requests per delivered message ({customers} customers, mail/LINE/SMS):")
    for kind, value in result.items():
        print(f"  {kind:18} {value:.2f}")
    print(json.dumps({"benchmark": "dynamodb_requests_per_message", "target_max": 3, **result}))
    return result


if __name__ == "__main__":
    main()
