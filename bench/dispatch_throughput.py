"""Dispatch throughput with sandbox providers (messages/s), as a ratio to a plain SES
send loop measured in the same process.

Both sides run against moto in-process with the SAM template's tables. The baseline
sends pre-built MIME mails with `sesv2.send_email` in a loop: the provider call alone.
The measured side is the whole send path for the same number of people (recipient
read, channel choice, consent, cap, rendering, tracked links, the claim transaction,
MIME, the provider call, the `sent` write and the `message.sent` event), with the rate
limiter lifted so the machine, not the SES quota, is measured. Higher is better; the
ratio says what share of a bare provider loop's speed the full path keeps.

In-process moto copies the whole table on every TransactWriteItems (for its rollback),
so moto's own time dominated the figure (82% with cProfile) and it said little about the
pipeline. So the bench also times moto apart: every request moto answers goes through
`BotocoreStubber.process_request`, which `MotoMeter` wraps with a clock and a count per
operation. What is left, per message, is the pipeline's own cost: our code, botocore's
serialising and parsing, MIME and rendering, as a Lambda would pay them (`own_us_per_msg`),
beside the AWS requests each message makes (deterministic, what the cost model uses).
The audience is kept small (40 per channel group); on AWS, SES's 14/s quota is the limit.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))
sys.path.insert(0, str(ROOT))

from bench.harness import create_tables, line_sandbox  # noqa: E402

os.environ.update(
    AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="ap-northeast-1"
)
os.environ.pop("AWS_ENDPOINT_URL", None)
BASELINE = "plain SES v2 send_email loop (pre-built MIME)"


class MotoMeter:
    """Seconds spent inside moto and its requests by operation, while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.requests: dict[str, int] = {}
        self._original: Any = None

    def __enter__(self) -> MotoMeter:
        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.process_request
        meter = self

        def timed(stubber: Any, request: Any) -> Any:
            target = request.headers.get("X-Amz-Target")
            if isinstance(target, bytes):
                target = target.decode()
            url = urlsplit(request.url)
            name = str(target or f"{request.method} {url.netloc.split('.')[0]}{url.path[:24]}")
            meter.requests[name] = meter.requests.get(name, 0) + 1
            started = time.perf_counter()
            try:
                return original(stubber, request)
            finally:
                meter.seconds += time.perf_counter() - started

        self._original = original
        BotocoreStubber.process_request = timed  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        BotocoreStubber.process_request = self._original  # type: ignore[method-assign]


def _split(seconds: float, meter: MotoMeter, messages: int) -> dict[str, Any]:
    """Wall time per message split into moto's part and the rest (ours)."""
    return {
        "us_per_msg": round(seconds / messages * 1e6),
        "moto_share": round(meter.seconds / seconds, 3),
        "own_us_per_msg": round((seconds - meter.seconds) / messages * 1e6),
        "requests_per_msg": {k: round(v / messages, 2) for k, v in sorted(meter.requests.items())},
    }


def _print(result: dict[str, Any]) -> None:
    mail_rate, mixed_rate = result["mail_msgs_per_s"], result["line_sms_msgs_per_s"]
    print(f"baseline ({BASELINE}): {result['baseline_msgs_per_s']:,.0f} msgs/s")
    print(f"full send path, mail:        {mail_rate:,.0f} msgs/s  ratio {result['mail_ratio']:.2f}")
    ratio = result["line_sms_ratio"]
    print(f"full send path, LINE + SMS:  {mixed_rate:,.0f} msgs/s  ratio {ratio:.2f} (multicast)")
    for name, key in (
        ("baseline", "baseline_split"),
        ("mail", "mail_split"),
        ("LINE+SMS", "line_sms_split"),
    ):
        split = result[key]
        print(
            f"  {name:9} {split['us_per_msg']:>7,} us/msg, moto {split['moto_share']:.0%}, "
            f"own {split['own_us_per_msg']:>6,} us/msg; requests/msg {split['requests_per_msg']}"
        )
    print(
        "pipeline's own cost per mail / a bare SES call's whole cost: "
        f"{result['mail_own_cost_ratio']:.2f}"
    )


def main(customers: int = 40) -> dict[str, Any]:
    """The bench, its LINE sandbox file removed afterwards."""
    with line_sandbox():
        return _run(customers)


def _run(customers: int) -> dict[str, Any]:
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
        with MotoMeter() as base_meter:
            start = time.perf_counter()
            for raw, i in zip(mimes, range(customers), strict=True):
                ses.send_email(
                    FromEmailAddress="shop@example.com",
                    Destination={"ToAddresses": [f"m{i}@example.jp"]},
                    Content={"Raw": {"Data": raw}},
                )
            base_seconds = time.perf_counter() - start
        baseline = customers / base_seconds

        def run(ids: list[str], trigger: str) -> tuple[float, dict[str, Any]]:
            requests = [SendRequest("bench", "sale", c, trigger, "a") for c in ids]
            with MotoMeter() as meter:
                start = time.perf_counter()
                for page in range(0, len(requests), 100):
                    outcomes = pipeline.send_batch(requests[page : page + 100])
                    assert all(o.status == "sent" for o in outcomes), outcomes[:3]
                seconds = time.perf_counter() - start
            return len(ids) / seconds, _split(seconds, meter, len(ids))

        mail_rate, mail_split = run(mail_people, "campaign:mail")
        mixed_rate, mixed_split = run(mixed, "campaign:mixed")
    base_split = _split(base_seconds, base_meter, customers)
    result: dict[str, Any] = {
        "baseline_msgs_per_s": baseline,
        "mail_msgs_per_s": mail_rate,
        "mail_ratio": mail_rate / baseline,
        "line_sms_msgs_per_s": mixed_rate,
        "line_sms_ratio": mixed_rate / baseline,
        "baseline_split": base_split,
        "mail_split": mail_split,
        "line_sms_split": mixed_split,
        "mail_own_cost_ratio": mail_split["own_us_per_msg"] / max(base_split["us_per_msg"], 1),
    }
    _print(result)
    print(json.dumps({"benchmark": "dispatch_throughput", "baseline": BASELINE, **result}))
    return result


if __name__ == "__main__":
    main()
