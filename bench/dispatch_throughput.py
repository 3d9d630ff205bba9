"""Dispatch throughput with sandbox providers (messages/s), as a ratio to a plain SES
send loop measured in the same process.

Both sides run against moto in-process with the SAM template's tables. The baseline
sends pre-built MIME mails with `sesv2.send_email` in a loop: the provider call alone.
The measured side is the whole send path for the same number of people (recipient
read, channel choice, consent, cap, rendering, tracked links, the claim transaction,
MIME, the provider call, the `sent` write and the `message.sent` event), with the rate
limiter lifted so the machine, not the SES quota, is measured. Higher is better; the
ratio says what share of a bare provider loop's speed the full path keeps.

Caveat, measured with cProfile: in-process moto copies the whole table on every
TransactWriteItems (for its rollback), so the claim transaction dominates and gets
slower as the table grows; the audience is kept small (40 per channel group) and the
ratio is a regression number for this machine, not a prediction of AWS throughput
(there, SES's 14/s quota is the limit by far).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))
sys.path.insert(0, str(ROOT))

from bench.harness import create_tables  # noqa: E402

os.environ.update(
    AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="ap-northeast-1"
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ["KIZUNA_LINE_SANDBOX_FILE"] = str(Path(tempfile.mkdtemp()) / "line.jsonl")
BASELINE = "plain SES v2 send_email loop (pre-built MIME)"


def main(customers: int = 40) -> dict[str, float]:
    import logging

    import boto3
    from moto import mock_aws

    from messenger import bootstrap, services
    from messenger.channels.base import OutboundMessage
    from messenger.channels.email import build_mime
    from messenger.domain.message import EmailContent, LineContent, Message, SmsContent
    from messenger.services.sending import SendRequest
    from shared.contracts import details
    from shared.settings import Settings

    logging.disable(logging.INFO)
    noon_jst = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    with mock_aws():
        ddb = boto3.client("dynamodb")
        names = create_tables(ddb)
        boto3.client("events").create_event_bus(Name="bench")
        ses = boto3.client("sesv2")
        ses.create_email_identity(EmailIdentity="shop@example.com")
        settings = Settings(
            messenger_table=names["MessengerTable"],
            platform_table=names["PlatformTable"],
            event_bus_name="bench",
            sandbox=True,
            ses_rate_per_second=1e9,
            line_rate_per_minute=1e12,
            sns_sms_rate_per_second=1e9,
        )
        container = bootstrap.build(settings)
        container = container.replaced(clock=lambda: noon_jst)
        pipeline = container.pipeline
        recipients = container.adapters.recipients

        def people(prefix: str, channel: str) -> list[str]:
            ids = []
            for i in range(customers):
                snapshot = details.CustomerSnapshot(
                    customer_id=f"{prefix}{i}",
                    email=f"{prefix}{i}@example.jp" if channel == "email" else None,
                    line_user_id=("U" + f"{i:032x}") if channel == "line" else None,
                    phone=f"090-1234-{i:04d}" if channel == "sms" else None,
                    last_name="山田",
                    consents=[
                        details.ConsentSnapshot(channel=channel, granted=True, source="bench")
                    ],
                )
                services.record_customer(recipients, "bench", snapshot, noon_jst)
                ids.append(f"{prefix}{i}")
            return ids

        container.library.save(
            Message(
                "sale",
                "bench",
                "Sale",
                email=EmailContent(
                    "{{ customer.last_name }}様、冬のセール",
                    '<p>{{ customer.last_name }}様</p><a href="https://shop.example/s">見る</a>',
                    "{{ customer.last_name }}様 https://shop.example/s",
                ),
                line=LineContent(text="{{ customer.last_name }}様 セール"),
                sms=SmsContent("{{ customer.last_name }}様 セール"),
            )
        )
        mail_people = people("m", "email")
        mixed = people("l", "line") + people("s", "sms")

        # Baseline: the provider call alone, MIME built beforehand.
        mimes = [
            build_mime(
                OutboundMessage(f"d{i}", f"m{i}@example.jp", "件名", "本文", "<p>本文</p>"),
                "shop@example.com",
                "Shop",
            ).as_bytes()
            for i in range(customers)
        ]
        start = time.perf_counter()
        for raw, i in zip(mimes, range(customers), strict=True):
            ses.send_email(
                FromEmailAddress="shop@example.com",
                Destination={"ToAddresses": [f"m{i}@example.jp"]},
                Content={"Raw": {"Data": raw}},
            )
        baseline = customers / (time.perf_counter() - start)

        def run(ids: list[str], trigger: str) -> float:
            requests = [SendRequest("bench", "sale", c, trigger, "a") for c in ids]
            start = time.perf_counter()
            for page in range(0, len(requests), 100):
                outcomes = pipeline.send_batch(requests[page : page + 100])
                assert all(o.status == "sent" for o in outcomes), outcomes[:3]
            return len(ids) / (time.perf_counter() - start)

        mail_rate = run(mail_people, "campaign:mail")
        mixed_rate = run(mixed, "campaign:mixed")
    result = {
        "baseline_msgs_per_s": baseline,
        "mail_msgs_per_s": mail_rate,
        "mail_ratio": mail_rate / baseline,
        "line_sms_msgs_per_s": mixed_rate,
        "line_sms_ratio": mixed_rate / baseline,
    }
    print(f"baseline ({BASELINE}): {baseline:,.0f} msgs/s")
    print(f"full send path, mail:        {mail_rate:,.0f} msgs/s  ratio {result['mail_ratio']:.2f}")
    ratio = result["line_sms_ratio"]
    print(f"full send path, LINE + SMS:  {mixed_rate:,.0f} msgs/s  ratio {ratio:.2f} (multicast)")
    print(json.dumps({"benchmark": "dispatch_throughput", "baseline": BASELINE, **result}))
    return result


if __name__ == "__main__":
    main()
