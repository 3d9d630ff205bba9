"""The SAM template and the code agree, and the template lints clean."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

from ops.local.template import functions, load_template, resources_of_type
from shared.contracts.catalog import EVENT_CATALOG
from shared.events_handler import UnroutableEvent
from tests.conftest import TEMPLATE


def test_cfn_lint_is_clean() -> None:
    exe = shutil.which("cfn-lint") or str(Path(sys.executable).parent / "cfn-lint")
    result = subprocess.run([exe, str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_signing_secret_has_no_default_and_stays_hidden() -> None:
    """A default would be public, and `sam deploy --guided` would offer it."""
    # Given the template's SigningSecret parameter
    parameter = load_template(TEMPLATE)["Parameters"]["SigningSecret"]
    # Then a deploy must choose one of at least 32 characters, never shown by CloudFormation
    assert "Default" not in parameter
    assert parameter["NoEcho"] is True
    assert parameter["MinLength"] >= 32


def test_every_event_function_sends_failed_invocations_to_the_dlq() -> None:
    """A rule's DeadLetterConfig only catches events EventBridge could not hand to Lambda;
    an event whose handler raised reaches the DLQ through the function's on-failure
    destination, after Lambda's two async retries."""
    template = load_template(TEMPLATE)
    resources = resources_of_type(template, "AWS::Serverless::Function")
    event_functions = [spec for spec in functions(template) if spec.rules]
    assert {f.logical_id for f in event_functions} == {
        "SegmenterEventsFunction",
        "MessengerEventsFunction",
        "FeedbackEventsFunction",
        "AnalyticsFunction",
    }
    for spec in event_functions:
        # Given an event function and the DLQ its rules name
        props = resources[spec.logical_id]["Properties"]
        dlqs = {rule.dead_letter_queue for rule in spec.rules}
        assert len(dlqs) == 1 and None not in dlqs, spec.logical_id
        (dlq,) = dlqs
        # Then failed async invocations go to the same queue, after two retries
        invoke = props.get("EventInvokeConfig") or {}
        assert invoke.get("MaximumRetryAttempts") == 2, spec.logical_id
        on_failure = (invoke.get("DestinationConfig") or {}).get("OnFailure") or {}
        assert on_failure.get("Type") == "SQS", spec.logical_id
        assert on_failure.get("Destination") == {"Fn::GetAtt": [dlq, "Arn"]}, spec.logical_id
        # And the function's role may send to that queue
        send = [p["SQSSendMessagePolicy"] for p in props["Policies"] if "SQSSendMessagePolicy" in p]
        assert {"QueueName": {"Fn::GetAtt": [dlq, "QueueName"]}} in send, spec.logical_id


def test_the_journey_tick_fans_shards_out_through_sqs_to_the_messenger() -> None:
    """The one-minute tick must not work every due shard itself: it sends one message per
    shard to JourneyShardsQueue, which the messenger's event function consumes (one
    shard per invocation, failed shards reported back alone, a DLQ after retries)."""
    # Given the template
    template = load_template(TEMPLATE)
    queues = resources_of_type(template, "AWS::SQS::Queue")
    fn = resources_of_type(template, "AWS::Serverless::Function")["MessengerEventsFunction"]
    props = fn["Properties"]
    (spec,) = [s for s in functions(template) if s.logical_id == "MessengerEventsFunction"]
    # Then the function that runs the tick knows the queue, and may send to it
    assert "JourneyDispatcher" in {s.name for s in spec.schedules}
    assert spec.environment["KIZUNA_JOURNEY_SHARDS_QUEUE_URL"] == {"Ref": "JourneyShardsQueue"}
    send = [p["SQSSendMessagePolicy"] for p in props["Policies"] if "SQSSendMessagePolicy" in p]
    assert {"QueueName": {"Fn::GetAtt": ["JourneyShardsQueue", "QueueName"]}} in send
    # And it consumes the queue, one shard a time, reporting failed shards alone
    (source,) = spec.sqs_sources
    assert (source.queue_logical_id, source.batch_size, source.report_failures) == (
        "JourneyShardsQueue",
        1,
        True,
    )
    # And a shard still being worked is not handed out again, and one that keeps failing
    # stops in its own DLQ
    queue = queues["JourneyShardsQueue"]["Properties"]
    assert int(queue["VisibilityTimeout"]) >= 6 * int(props["Timeout"])
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["JourneyShardsDeadLetterQueue", "Arn"]}
    assert 1 <= redrive["maxReceiveCount"] <= 5


def test_every_handler_path_imports() -> None:
    specs = functions(load_template(TEMPLATE))
    assert len(specs) == 9
    for spec in specs:
        module = importlib.import_module(spec.module)
        assert callable(getattr(module, spec.attribute)), spec.handler
        if spec.http_routes:
            assert hasattr(module, "app"), f"{spec.module} serves HTTP but has no FastAPI app"


def test_every_rule_names_catalogued_types_from_their_publisher() -> None:
    for spec in functions(load_template(TEMPLATE)):
        for rule in spec.rules:
            for detail_type in rule.pattern["detail-type"]:
                assert detail_type in EVENT_CATALOG, (spec.logical_id, detail_type)
                assert EVENT_CATALOG[detail_type].source in rule.pattern["source"]


def test_the_readme_lists_every_catalogued_event_and_who_receives_it() -> None:
    """The README's event table is the catalog and the template's rules, row for row."""
    # Given the functions each type's rules deliver to
    receivers: dict[str, set[str]] = {}
    for spec in functions(load_template(TEMPLATE)):
        for rule in spec.rules:
            for detail_type in rule.pattern["detail-type"]:
                receivers.setdefault(detail_type, set()).add(spec.logical_id)
    expected = [
        f"| `{t.name}` | {t.source} | "
        + (", ".join(f"`{f}`" for f in sorted(receivers.get(t.name, ()))) or "—")
        + f" | {t.description} |"
        for t in EVENT_CATALOG.values()
    ]
    # When the README's section is read
    readme = (TEMPLATE.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Events between services", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    # Then it lists every type, in catalog order, with its publisher and receivers
    assert rows == expected


def test_every_rule_and_schedule_has_a_route_in_its_handler(cloud: object) -> None:
    """A type the rule delivers but the handler does not route would land in the DLQ."""
    for spec in functions(load_template(TEMPLATE)):
        handler = getattr(importlib.import_module(spec.module), spec.attribute)
        for schedule in spec.schedules:
            assert isinstance(handler(schedule.input, None), dict), schedule.name
        for source in spec.sqs_sources:
            answer = handler({"Records": []}, None)
            assert answer["batchItemFailures"] == [], source.name
        for rule in spec.rules:
            for detail_type in rule.pattern["detail-type"]:
                event = {
                    "detail-type": detail_type,
                    "detail": {"id": "x", "shop": "s", "type": detail_type, "detail": {}},
                }
                try:
                    handler(event, None)
                except UnroutableEvent as err:  # pragma: no cover - the failure we look for
                    raise AssertionError(
                        f"{spec.logical_id} has no route for {detail_type}"
                    ) from err
                except Exception:  # an empty detail fails validation: it was routed
                    pass


def test_every_table_has_point_in_time_recovery_and_deletion_protection() -> None:
    """A shop's data is restorable to any second of the last 35 days, and neither a stack
    delete nor a change that would replace a table can drop it."""
    # Given every DynamoDB table in the template
    tables = resources_of_type(load_template(TEMPLATE), "AWS::DynamoDB::Table")
    assert {"PlatformTable", "SegmenterTable", "MessengerTable"} <= set(tables)
    for logical_id, table in tables.items():
        props = table["Properties"]
        # Then each has point-in-time recovery and deletion protection
        pitr = props.get("PointInTimeRecoverySpecification") or {}
        assert pitr.get("PointInTimeRecoveryEnabled") is True, logical_id
        assert props.get("DeletionProtectionEnabled") is True, logical_id
        # And CloudFormation keeps it when the stack goes or the table would be replaced
        assert table.get("DeletionPolicy") == "Retain", logical_id
        assert table.get("UpdateReplacePolicy") == "Retain", logical_id
