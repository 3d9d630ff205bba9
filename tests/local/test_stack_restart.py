"""Local state survives a restart (moto's recorder, compacted and replayed), and the real
template boots. Kept apart from test_stack.py: every stack resets moto's in-process state."""

from __future__ import annotations

import importlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.local import LocalStack
from shared.local.recording import is_replayable
from shared.local.template import functions, load_template
from shared.settings import LOCAL_SIGNING_SECRET, get_settings

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "template.yaml"
REAL_TEMPLATE = HERE.parent.parent / "infra" / "template.yaml"
TABLE = "kizuna-local-AppTable"


def item(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "count" if pk.startswith("thing#") else "v"}}


def snapshot(stack: LocalStack) -> dict[str, Any]:
    """What a restart must keep: table items, sent mail and SMS (counts and ids)."""
    scanned = stack.client("dynamodb").scan(TableName=TABLE)["Items"]
    sandbox = stack.sandbox_messages()
    return {
        "items": sorted(json.dumps(i, sort_keys=True) for i in scanned),
        "mail": sorted(m["to"] for m in sandbox if m["channel"] == "mail"),
        "sms": sorted(m["to"] for m in sandbox if m["channel"] == "sms"),
    }


def test_state_survives_restarts_without_duplicates(tmp_path: Path) -> None:
    state = tmp_path / "state"
    # Given a stack with state: an item, a counted event, a mail and an SMS
    with LocalStack(TEMPLATE, state_dir=state, auto_schedule=False) as first:
        ddb = first.client("dynamodb")
        ddb.put_item(TableName=TABLE, Item={**item("direct"), "n": {"N": "1"}})
        first.client("events").put_events(
            Entries=[
                {
                    "Source": "fake.shop",
                    "DetailType": "thing.happened",
                    "Detail": json.dumps({"key": "evt"}),
                    "EventBusName": "kizuna-local",
                }
            ]
        )
        first.drain(timeout=20)
        ses = first.client("sesv2")
        ses.create_email_identity(EmailIdentity="shop@example.com")
        ses.send_email(
            FromEmailAddress="shop@example.com",
            Destination={"ToAddresses": ["hanako@example.jp"]},
            Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
        )
        first.client("sns").publish(PhoneNumber="+819012345678", Message="hi")
        before = snapshot(first)
        first_port = first.aws_endpoint_url
    assert len(before["items"]) == 2
    # And the recording holds no event plumbing (polls, deletes, PutEvents)
    recording = state / "moto-recording.jsonl"
    lines = [json.loads(line) for line in recording.read_text().splitlines()]
    assert lines and all(is_replayable(entry) for entry in lines)

    # When the stack starts again on the same state dir (on a new port)
    events_module = importlib.import_module("fakeservice.entrypoints.events")
    with LocalStack(TEMPLATE, state_dir=state, auto_schedule=False) as second:
        assert second.aws_endpoint_url != first_port
        # Then everything is back, and the event was not delivered again
        assert snapshot(second) == before
        assert second.client("dynamodb").get_item(TableName=TABLE, Key=item("thing#evt"))["Item"][
            "seen"
        ] == {"N": "1"}
        # And the already-imported handler module was reset for the new endpoint
        assert events_module.RESETS[-1] == second.aws_endpoint_url
        second.client("dynamodb").put_item(TableName=TABLE, Item=item("after-restart"))
        second.drain(timeout=10)

    # When it restarts a second time
    with LocalStack(TEMPLATE, state_dir=state, auto_schedule=False) as third:
        after = snapshot(third)
    # Then nothing was replayed twice: same mail, same SMS, one more item
    assert after["mail"] == before["mail"]
    assert after["sms"] == before["sms"]
    assert len(after["items"]) == 3
    assert set(before["items"]) < set(after["items"])


def test_the_real_template_boots_its_tables_bus_and_rules() -> None:
    # Given infra/template.yaml (handlers are not imported: no event is sent)
    with LocalStack(REAL_TEMPLATE, auto_schedule=False) as stack:
        # When moto is asked what exists
        names = stack.client("dynamodb").list_tables()["TableNames"]
        rules = stack.client("events").list_rules(EventBusName="kizuna-local")["Rules"]
        env = stack.environment
        schedules = stack.schedules()
        identities = stack.client("sesv2").list_email_identities()["EmailIdentities"]
        settings = get_settings()
    # Then each table, each function rule and each schedule of the template is there
    assert set(names) >= {
        "kizuna-local-PlatformTable",
        "kizuna-local-SegmenterTable",
        "kizuna-local-MessengerTable",
        "kizuna-local-FeedbackTable",
    }
    expected_rules = {
        f"kizuna-local-{fn.logical_id}-{rule.name}"
        for fn in functions(load_template(REAL_TEMPLATE))
        for rule in fn.rules
    }
    assert "kizuna-local-MessengerEventsFunction-Orders" in expected_rules
    assert {r["Name"] for r in rules} == expected_rules
    assert env["KIZUNA_SEGMENTER_TABLE"] == "kizuna-local-SegmenterTable"
    assert env["KIZUNA_EVENT_BUS_NAME"] == "kizuna-local"
    assert env["KIZUNA_SENDER_EMAIL"] == "shop@example.com"
    # And the SigningSecret a deploy must choose is the public local one, which the
    # handlers' settings accept because the stack is a sandbox
    assert env["KIZUNA_SIGNING_SECRET"] == LOCAL_SIGNING_SECRET
    assert settings.sandbox
    assert settings.signing_secret.get_secret_value() == LOCAL_SIGNING_SECRET
    # And the sender its SES policy names is verified, so local sends are not rejected
    assert [i["IdentityName"] for i in identities] == ["shop@example.com"]
    assert schedules == {
        "NightlyRecompute": "cron(0 18 * * ? *)",
        "JourneyDispatcher": "rate(1 minute)",
        "RestockWaves": "rate(5 minutes)",
    }


def test_schedules_fire_by_themselves_when_auto_schedule_is_on() -> None:
    events_module = importlib.import_module("fakeservice.entrypoints.events")
    # Given a stack with auto-firing on and a controllable clock at 17:59:30 UTC
    now = [datetime(2026, 3, 10, 17, 59, 30, tzinfo=UTC)]
    with LocalStack(TEMPLATE, auto_schedule=True, clock=lambda: now[0]):
        start = len(events_module.SCHEDULE_CALLS)

        def fired() -> list[str]:
            return [c["schedule"] for c in events_module.SCHEDULE_CALLS[start:]]

        def wait_for(expected: list[str]) -> None:
            deadline = time.monotonic() + 5
            while fired() != expected and time.monotonic() < deadline:
                time.sleep(0.05)

        # When the clock passes 18:00 (the nightly cron) but not a minute since start
        now[0] = datetime(2026, 3, 10, 18, 0, 5, tzinfo=UTC)
        wait_for(["nightly"])
        # Then only the nightly schedule fired
        assert fired() == ["nightly"]
        # When a minute has passed since start
        now[0] = datetime(2026, 3, 10, 18, 0, 31, tzinfo=UTC)
        wait_for(["nightly", "tick"])
        # Then the rate schedule fired too, once each
        assert fired() == ["nightly", "tick"]
