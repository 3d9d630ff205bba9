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

from ops.local import LocalStack
from ops.local.recording import is_replayable
from ops.local.template import functions, load_template
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
        # And the already-imported handler module was reset for the new stack
        assert events_module.RESETS[-1] == second.api_base_url
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
        "NightlyAnalytics": "cron(0 19 * * ? *)",
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


def _put_things(stack: LocalStack, keys: list[str], **detail: Any) -> None:
    events = stack.client("events")
    for start in range(0, len(keys), 10):
        events.put_events(
            Entries=[
                {
                    "Source": "fake.shop",
                    "DetailType": "thing.happened",
                    "Detail": json.dumps({"key": key, **detail}),
                    "EventBusName": "kizuna-local",
                }
                for key in keys[start : start + 10]
            ]
        )


def _seen(stack: LocalStack) -> dict[str, int]:
    ddb = stack.client("dynamodb")
    found: dict[str, int] = {}
    for page in ddb.get_paginator("scan").paginate(TableName=TABLE):
        for i in page["Items"]:
            if i["pk"]["S"].startswith("thing#"):
                found[i["pk"]["S"].removeprefix("thing#")] = int(i["seen"]["N"])
    return found


def test_a_stop_with_a_backlog_hands_every_event_over_exactly_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    keys = [f"e{n:03d}" for n in range(100)]
    # Given a stack whose handler takes 50 ms per event, and 100 events on the bus
    first = LocalStack(TEMPLATE, state_dir=state, auto_schedule=False)
    first.start()
    try:
        _put_things(first, keys, slow=0.05)
    finally:
        # When it is stopped at once, with most of them still queued
        first.stop(drain_timeout=0)
    pending = (state / "pending-events.jsonl").read_text().splitlines()
    assert len(pending) >= 50

    # And it starts again on the same state
    with LocalStack(TEMPLATE, state_dir=state, auto_schedule=False) as second:
        second.drain(timeout=60)
        # Then every event was handled, and none twice
        assert _seen(second) == dict.fromkeys(keys, 1)
        assert second.last_restore is not None
        assert second.last_restore.resent_events == len(pending)


def test_a_restart_replays_only_what_came_after_the_last_snapshot(tmp_path: Path) -> None:
    state = tmp_path / "state"
    # Given a stack that wrote 120 items, then was stopped (a snapshot) and started again
    with LocalStack(TEMPLATE, state_dir=state, auto_schedule=False) as first:
        ddb = first.client("dynamodb")
        for n in range(120):
            ddb.put_item(TableName=TABLE, Item=item(f"history-{n}"))
    with LocalStack(TEMPLATE, state_dir=state, auto_schedule=False) as second:
        restored = second.last_restore
        # When 5 more items are written and the stack checkpoints while running
        for n in range(5):
            second.client("dynamodb").put_item(TableName=TABLE, Item=item(f"recent-{n}"))
        journal = [
            json.loads(line) for line in (state / "moto-recording.jsonl").read_text().splitlines()
        ]
        recent = [e for e in journal if "DynamoDB" in e["headers"].get("X-Amz-Target", "")]
        checkpoint = second.checkpoint()

    # Then the restart loaded the 120 from the snapshot and replayed none of them
    assert restored is not None
    assert restored.items == 120
    assert restored.journal_entries < 10
    # And the journal held just the 5 writes since, until the checkpoint took them in
    assert len(recent) == 5
    assert checkpoint.items == 125
    lines = (state / "moto-recording.jsonl").read_text().splitlines()
    assert not [line for line in lines if "DynamoDB_" in line]
