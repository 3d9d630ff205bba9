"""The local Step Functions runner: the template's definition runs as Step Functions
would run it, and what it does not implement is refused rather than skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ops.local.states import DefinitionError, ExecutionFailed, StateMachineRunner
from ops.local.template import load_template, state_machines
from tests.conftest import TEMPLATE

STARTED = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)


class Flaky(Exception):
    """A task error the definition retries."""


def _machine(**task: Any) -> dict[str, Any]:
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"n.$": "$$.Map.Item.Value", "tag.$": "$.tag"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED"},
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Task", "Resource": "${Fn}", "End": True, **task}},
                },
                "ResultPath": "$.results",
                "Next": "Done",
            },
            "Done": {"Type": "Succeed", "OutputPath": "$.results"},
        },
    }


def test_a_map_hands_each_item_and_the_context_to_its_task() -> None:
    # Given a Map over three items whose task doubles its item
    calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(function: str, event: dict[str, Any]) -> Any:
        calls.append((function, event))
        return event["n"] * 2

    runner = StateMachineRunner(_machine(), {"Fn": "DoubleFunction"}, invoke)
    # When it runs / Then each child got its item and the input's tag, results in order
    assert runner.execute({"items": [1, 2, 3], "tag": "t"}, STARTED) == [2, 4, 6]
    assert calls == [("DoubleFunction", {"n": n, "tag": "t"}) for n in (1, 2, 3)]


def test_retry_names_the_errors_it_retries_and_a_failed_child_fails_the_map() -> None:
    # Given a task that fails twice with Flaky, retried at most twice for Flaky only
    failures = {"left": 2}

    def invoke(function: str, event: dict[str, Any]) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise Flaky("busy")
        return event["n"]

    retry = [{"ErrorEquals": ["Flaky"], "MaxAttempts": 2}]
    runner = StateMachineRunner(_machine(Retry=retry), {"Fn": "F"}, invoke)
    # When it runs / Then the retries absorb both failures
    assert runner.execute({"items": [7], "tag": ""}, STARTED) == [7]

    # And an error the Retry does not name fails the child, and with it the Map
    def broken(function: str, event: dict[str, Any]) -> Any:
        raise KeyError("nope")

    runner = StateMachineRunner(_machine(Retry=retry), {"Fn": "F"}, broken)
    with pytest.raises(ExecutionFailed) as failed:
        runner.execute({"items": [7], "tag": ""}, STARTED)
    assert failed.value.error == "States.ExceedToleratedFailureThreshold"


def test_what_the_runner_does_not_implement_is_refused() -> None:
    # Given definitions with a Wait state, and a task field the runner does not run
    waiting = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}}
    selecting = _machine(ResultSelector={"x.$": "$"})
    # When they are loaded / Then each is refused, naming the state
    for definition in (waiting, selecting):
        with pytest.raises(DefinitionError, match="not run locally"):
            StateMachineRunner(definition, {"Fn": "F"}, lambda f, e: None)


def test_the_template_nightly_definition_is_one_the_runner_runs() -> None:
    # Given the template's state machines / When the runner loads each
    machines = state_machines(load_template(TEMPLATE))
    # Then every one loads, and its tasks name the template's functions
    assert [m.logical_id for m in machines] == ["NightlyRecomputeMachine"]
    for machine in machines:
        StateMachineRunner(machine.definition, machine.functions, lambda f, e: None)
        assert set(machine.functions.values()) == {"NightlyFunction"}
