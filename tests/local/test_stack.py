"""The local stack end to end: moto server, rules → SQS → handler, DLQ, HTTP, schedules, sandbox.

One stack serves the whole module (booting moto costs about a second); each test uses its
own keys so they do not depend on each other's order.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.local import LocalStack, UnknownScheduleError
from ops.local.sandbox import record_line_message
from shared import clock as shared_clock
from shared.clock import FixedClock

pytestmark = pytest.mark.e2e

TEMPLATE = Path(__file__).resolve().parent / "template.yaml"
TABLE = "kizuna-local-AppTable"
BUS = "kizuna-local"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    local = LocalStack(TEMPLATE, auto_schedule=False, max_receive_count=2, visibility_timeout=1)
    with local:
        yield local


def put_event(
    stack: LocalStack, detail: dict[str, Any], detail_type: str = "thing.happened"
) -> None:
    response = stack.client("events").put_events(
        Entries=[
            {
                "Source": "fake.shop",
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": BUS,
            }
        ]
    )
    assert response["FailedEntryCount"] == 0


def seen(stack: LocalStack, key: str) -> dict[str, Any] | None:
    item = stack.client("dynamodb").get_item(
        TableName=TABLE, Key={"pk": {"S": f"thing#{key}"}, "sk": {"S": "count"}}
    )
    found: dict[str, Any] | None = item.get("Item")
    return found


def test_tables_bus_queues_and_rules_come_from_the_template(stack: LocalStack) -> None:
    # Given a started stack
    # When moto is asked what exists
    ddb = stack.client("dynamodb")
    events = stack.client("events")
    sqs = stack.client("sqs")
    table = ddb.describe_table(TableName=TABLE)["Table"]
    (rule,) = events.list_rules(EventBusName=BUS)["Rules"]
    (target,) = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=BUS)["Targets"]
    queue_url = sqs.get_queue_url(QueueName="kizuna-local-EventsFunction")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    # Then the table has the template's keys and GSI
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    # And the rule has the template's pattern and targets the function's queue
    assert json.loads(rule["EventPattern"]) == {
        "source": ["fake.shop"],
        "detail-type": ["thing.happened"],
    }
    assert target["Arn"] == attributes["QueueArn"]
    # And that queue redrives to the template's DLQ
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":kizuna-local-DeadLetters")
    assert int(redrive["maxReceiveCount"]) == 2


def test_environment_points_the_handlers_at_the_local_stack(stack: LocalStack) -> None:
    # Given a started stack / Then the process environment is the template's, resolved locally
    env = stack.environment
    assert env["KIZUNA_APP_TABLE"] == TABLE
    assert env["KIZUNA_EVENT_BUS_NAME"] == BUS
    assert env["FAKE_GREETING"] == "hello"
    assert env["KIZUNA_SANDBOX"] == "true"
    assert env["KIZUNA_PUBLIC_BASE_URL"] == stack.api_base_url
    assert env["AWS_ENDPOINT_URL"] == stack.aws_endpoint_url  # for tools in other processes
    # And the handlers in this process reach moto without a socket: AWS's own endpoints,
    # served by the same moto backends as the server
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert all(os.environ[n] == v for n, v in env.items() if n != "AWS_ENDPOINT_URL")
    import boto3

    boto3.client("dynamodb").put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": "v"}})
    assert "Item" in stack.client("dynamodb").get_item(
        TableName=TABLE, Key={"pk": {"S": "p"}, "sk": {"S": "v"}}
    )


def test_the_stack_s_clients_skip_botocore_s_client_side_validation(stack: LocalStack) -> None:
    """moto checks what it serves; the in-process tests' clients (`cloud`) still validate."""
    # Given a client built as the handlers build theirs, in the stack's environment
    from botocore.exceptions import ParamValidationError

    from shared import aws

    client = aws.client(aws.session("ap-northeast-1"), "dynamodb")
    # When a request breaks a rule of the service model (Limit is at least 1)
    # Then it is sent as it is, for moto to answer, not checked against the model first
    assert "TableNames" in client.list_tables(Limit=0)
    # And a client outside the stack's configuration still refuses it
    import botocore.session

    plain = botocore.session.Session()
    plain.set_config_variable("config_file", os.devnull)
    outside: Any = plain.create_client("dynamodb", region_name="ap-northeast-1")
    with pytest.raises(ParamValidationError):
        outside.list_tables(Limit=0)


def test_the_handlers_dynamodb_clients_reach_moto_without_botocore_s_shapes(
    stack: LocalStack,
) -> None:
    """Given a DynamoDB client built as the handlers build theirs, in the stack's process
    When it writes and reads an item
    Then it went through `MotoDynamoDB` (moto's answer as botocore gives it)."""
    from ops.local.moto_client import MotoDynamoDB
    from shared import aws

    client = aws.session("ap-northeast-1").real_client("dynamodb")
    assert isinstance(client, MotoDynamoDB)
    key = {"pk": {"S": "direct"}, "sk": {"S": "v"}}
    client.put_item(TableName=TABLE, Item={**key, "n": {"N": "1"}})
    assert client.get_item(TableName=TABLE, Key=key)["Item"]["n"] == {"N": "1"}


def test_an_event_on_the_bus_reaches_the_handler_through_sqs(stack: LocalStack) -> None:
    # Given a matching and a non-matching event put on the bus
    put_event(stack, {"key": "delivered"})
    put_event(stack, {"key": "ignored"}, detail_type="thing.ignored")
    # When the stack drains
    stack.drain(timeout=20)
    # Then the handler ran once for the matching event, with the full EventBridge event
    item = seen(stack, "delivered")
    assert item is not None
    assert item["seen"] == {"N": "1"}
    assert item["detail_type"] == {"S": "thing.happened"}
    assert seen(stack, "ignored") is None


def test_a_failing_handler_is_retried_then_dead_lettered(stack: LocalStack) -> None:
    # Given an event the handler always fails on
    put_event(stack, {"key": "bad", "fail": True})
    # When the stack drains (retries take a couple of visibility timeouts)
    stack.drain(timeout=20)
    # Then it was tried max_receive_count times and now sits in the DLQ
    failures = [f for f in stack.failures() if f.error_class == "RuntimeError"]
    assert len(failures) == 2
    assert failures[0].event_id == failures[1].event_id
    letters = stack.dead_letters()
    assert [d["event"]["detail"] for d in letters] == [{"key": "bad", "fail": True}]
    assert letters[0]["event"]["id"] == failures[0].event_id
    # And peeking did not consume it
    assert len(stack.dead_letters()) == 1


def test_a_poison_message_goes_to_the_dlq_once_and_blocks_nothing_else(
    stack: LocalStack,
) -> None:
    """Given a poison event (the handler always fails on it) put first, then five good ones
    When the stack drains
    Then six events in: the five good ones each handled exactly once, the poison one in
    the DLQ exactly once, after its retries; none lost, none doubled."""
    put_event(stack, {"key": "poison-1", "fail": True})
    for n in range(5):
        put_event(stack, {"key": f"good-{n}"})

    stack.drain(timeout=20)

    handled = [seen(stack, f"good-{n}") for n in range(5)]
    assert [item and item["seen"] for item in handled] == [{"N": "1"}] * 5
    letters = [d["event"]["detail"] for d in stack.dead_letters()]
    assert letters.count({"key": "poison-1", "fail": True}) == 1
    assert not any(str(d.get("key", "")).startswith("good-") for d in letters)
    assert seen(stack, "poison-1") is None  # its failed tries wrote nothing


def test_http_routes_follow_the_template(stack: LocalStack) -> None:
    # Given the stack's one base URL
    with httpx.Client(base_url=stack.api_base_url, timeout=10) as http:
        # When the template's routes are requested
        exact = http.get("/v1/things")
        proxy = http.post("/v1/things/t-1/parts")
        token = http.get("/u/some-token")
        # Then the function's app answers with the full path
        assert exact.json() == {
            "app": "fakeservice",
            "path": "/v1/things",
            "method": "GET",
            "greeting": "hello",
        }
        assert proxy.json()["path"] == "/v1/things/t-1/parts"
        assert token.json()["path"] == "/u/some-token"
        # And anything the template does not declare is a JSON 404
        for method, path in [("GET", "/v1/other"), ("POST", "/u/some-token"), ("GET", "/")]:
            response = http.request(method, path)
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "route_not_found"
        assert http.get("/_local/health").json()["status"] == "ok"


def test_fire_schedule_calls_the_handler_with_the_input(stack: LocalStack) -> None:
    events_module = importlib.import_module("fakeservice.entrypoints.events")
    before = len(events_module.SCHEDULE_CALLS)
    # Given the template's schedules
    assert stack.schedules() == {"Tick": "rate(1 minute)", "Nightly": "cron(0 18 * * ? *)"}
    # When one is fired directly and one over HTTP
    result = stack.fire_schedule("Tick")
    with httpx.Client(base_url=stack.api_base_url, timeout=10) as http:
        fired = http.post("/_local/schedules/Nightly")
        missing = http.post("/_local/schedules/Nope")
    # Then the handler got each schedule's Input and its result came back
    assert result == {"fired": "tick"}
    assert fired.json() == {"schedule": "Nightly", "result": {"fired": "nightly"}}
    assert events_module.SCHEDULE_CALLS[before:] == [
        {"schedule": "tick"},
        {"schedule": "nightly"},
    ]
    assert missing.status_code == 404
    with pytest.raises(UnknownScheduleError):
        stack.fire_schedule("Nope")


def test_clock_advance_moves_time_and_fires_what_falls_due(
    stack: LocalStack, clock: FixedClock
) -> None:
    """Given the stack at 2026-11-23T03:00Z with a one-minute tick and a nightly job
    When its clock is advanced by two days over HTTP (`kizuna local clock advance 2d`)
    Then every service's clock says two days later, the tick fired once per simulated
    hour and the nightly job once per night; a bad duration is a 422."""
    events_module = importlib.import_module("fakeservice.entrypoints.events")
    before = len(events_module.SCHEDULE_CALLS)
    start = shared_clock.now()
    with httpx.Client(base_url=stack.api_base_url, timeout=60) as http:
        moved = http.post("/_local/clock", json={"advance": "2d"})
        bad = http.post("/_local/clock", json={"advance": "-3d"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["fired"] == {"Tick": 48, "Nightly": 2}
    assert shared_clock.now() == start + timedelta(days=2)
    calls = events_module.SCHEDULE_CALLS[before:]
    assert calls.count({"schedule": "nightly"}) == 2
    assert bad.status_code == 422 and "advance" in bad.text


def test_sandbox_lists_mail_sms_and_line(stack: LocalStack) -> None:
    # Given a verified sender, one simple and one raw mail through SES v2, an SMS through SNS
    ses = stack.client("sesv2")
    ses.create_email_identity(EmailIdentity="shop@example.com")
    ses.send_email(
        FromEmailAddress="shop@example.com",
        Destination={"ToAddresses": ["hanako@example.jp"]},
        Content={
            "Simple": {
                "Subject": {"Data": "ようこそ"},
                "Body": {"Text": {"Data": "ご購入ありがとうございます"}},
            }
        },
    )
    raw = (
        "From: shop@example.com\r\nTo: taro@example.jp\r\nSubject: Restock\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBack in stock\r\n"
    )
    ses.send_email(
        FromEmailAddress="shop@example.com",
        Destination={"ToAddresses": ["taro@example.jp"]},
        Content={"Raw": {"Data": raw.encode()}},
    )
    stack.client("sns").publish(PhoneNumber="+819012345678", Message="Your order shipped")
    # And a LINE push recorded by a sandbox LINE channel at the documented place
    record_line_message(
        Path(stack.environment["KIZUNA_LINE_SANDBOX_FILE"]),
        "U123",
        "hello on LINE",
        {"to": "U123", "messages": [{"type": "text", "text": "hello on LINE"}]},
    )
    # When the sandbox is read over HTTP
    with httpx.Client(base_url=stack.api_base_url, timeout=10) as http:
        messages = http.get("/_local/sandbox").json()
    # Then every would-be message is there, per channel
    summary = [(m["channel"], m["to"], m["subject"], m["body"].strip()) for m in messages]
    assert ("mail", "hanako@example.jp", "ようこそ", "ご購入ありがとうございます") in summary
    assert ("mail", "taro@example.jp", "Restock", "Back in stock") in summary
    assert ("sms", "+819012345678", None, "Your order shipped") in summary
    assert ("line", "U123", None, "hello on LINE") in summary
