"""A local runner for the template's Step Functions state machines: reads the same ASL
definition the template deploys and runs its states against the local functions.

moto stores state machines but runs their Lambda tasks only in Docker, so the local stack
executes them here. The subset the template uses: Task (a function by its
DefinitionSubstitutions ARN), Map (INLINE or DISTRIBUTED, ItemsPath, ItemSelector,
ToleratedFailurePercentage), Pass, Succeed and Fail; Parameters, ResultPath, OutputPath
and Retry by error name. An unknown state type or field is refused, not skipped.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

Invoke = Callable[[str, dict[str, Any]], Any]
"""(function logical id, event) → the handler's result."""

_KNOWN = {
    "Task": {
        "Type",
        "Resource",
        "Parameters",
        "ResultPath",
        "OutputPath",
        "Next",
        "End",
        "Retry",
        "Comment",
        "TimeoutSeconds",
    },
    "Map": {
        "Type",
        "ItemsPath",
        "ItemSelector",
        "ItemProcessor",
        "MaxConcurrency",
        "ToleratedFailurePercentage",
        "ResultPath",
        "OutputPath",
        "Next",
        "End",
        "Label",
        "Comment",
    },
    "Pass": {"Type", "Parameters", "Result", "ResultPath", "OutputPath", "Next", "End", "Comment"},
    "Succeed": {"Type", "Comment", "OutputPath"},
    "Fail": {"Type", "Error", "Cause", "Comment"},
}


class DefinitionError(ValueError):
    """The definition uses something this runner does not run."""


class ExecutionFailed(RuntimeError):
    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


class StateMachineRunner:
    """Runs one definition. `functions` maps each `${Name}` of the definition's
    substitutions to the function's logical id; `invoke` calls that function."""

    def __init__(
        self, definition: Mapping[str, Any], functions: Mapping[str, str], invoke: Invoke
    ) -> None:
        self._definition = definition
        self._functions = dict(functions)
        self._invoke = invoke
        _check(definition)

    def execute(self, payload: Mapping[str, Any], started: datetime) -> Any:
        """One execution from StartAt; raises ExecutionFailed as the execution would end."""
        context = {"Execution": {"StartTime": started.isoformat(), "Input": payload}}
        return self._run(self._definition, copy.deepcopy(dict(payload)), context)

    def _run(self, machine: Mapping[str, Any], data: Any, context: dict[str, Any]) -> Any:
        name = machine["StartAt"]
        while True:
            state = machine["States"][name]
            kind = state["Type"]
            if kind == "Succeed":
                return _path(state.get("OutputPath", "$"), data, context)
            if kind == "Fail":
                raise ExecutionFailed(state.get("Error", "States.Fail"), state.get("Cause", ""))
            if kind == "Task":
                result = self._task(state, data, context)
            elif kind == "Map":
                result = self._map(state, data, context)
            else:  # Pass
                result = (
                    _parameters(state["Parameters"], data, context)
                    if "Parameters" in state
                    else state.get("Result", data)
                )
            data = _place(state.get("ResultPath", "$"), data, result)
            data = _path(state.get("OutputPath", "$"), data, context)
            if state.get("End"):
                return data
            name = state["Next"]

    def _task(self, state: Mapping[str, Any], data: Any, context: dict[str, Any]) -> Any:
        resource = str(state["Resource"])
        if not (resource.startswith("${") and resource.endswith("}")):
            raise DefinitionError(f"Task resource {resource}: expected a ${{Substitution}}")
        function = self._functions[resource[2:-1]]
        event = _parameters(state.get("Parameters", "$"), data, context)
        attempts: dict[int, int] = {}
        while True:
            try:
                return self._invoke(function, copy.deepcopy(event))
            except Exception as err:
                error = type(err).__name__
                for index, retry in enumerate(state.get("Retry", [])):
                    names = set(retry["ErrorEquals"])
                    matches = error in names or bool({"States.ALL", "States.TaskFailed"} & names)
                    if matches and attempts.get(index, 0) < int(retry.get("MaxAttempts", 3)):
                        attempts[index] = attempts.get(index, 0) + 1
                        break
                else:
                    raise ExecutionFailed(error, str(err)) from err

    def _map(self, state: Mapping[str, Any], data: Any, context: dict[str, Any]) -> Any:
        items = _path(state.get("ItemsPath", "$"), data, context)
        processor = state["ItemProcessor"]
        results: list[Any] = []
        failures = 0
        for index, item in enumerate(items):
            child_context = {**context, "Map": {"Item": {"Index": index, "Value": item}}}
            child_input = (
                _parameters(state["ItemSelector"], data, child_context)
                if "ItemSelector" in state
                else item
            )
            try:
                results.append(self._run(processor, child_input, child_context))
            except ExecutionFailed as failed:
                failures += 1
                results.append({"Error": failed.error, "Cause": failed.cause})
        tolerated = float(state.get("ToleratedFailurePercentage", 0))
        if failures and failures * 100 > tolerated * max(len(items), 1):
            raise ExecutionFailed("States.ExceedToleratedFailureThreshold", f"{failures} failed")
        return results


def _check(machine: Mapping[str, Any]) -> None:
    for name, state in machine["States"].items():
        kind = state.get("Type")
        if kind not in _KNOWN:
            raise DefinitionError(f"state {name}: type {kind} is not run locally")
        unknown = set(state) - _KNOWN[kind]
        if unknown:
            raise DefinitionError(f"state {name}: {sorted(unknown)} not run locally")
        if kind == "Map":
            _check(state["ItemProcessor"])


def _path(path: str | None, data: Any, context: Mapping[str, Any]) -> Any:
    """A JSONPath of the plain form `$`, `$.a.b` or `$$.a.b`."""
    if path is None:
        return {}
    root: Any = context if path.startswith("$$") else data
    rest = path[2:] if path.startswith("$$") else path[1:]
    for part in filter(None, rest.split(".")):
        root = root[part]
    return root


def _place(path: str | None, data: Any, result: Any) -> Any:
    if path is None:
        return data
    if path == "$":
        return result
    placed = copy.deepcopy(data)
    target = placed
    parts = path[2:].split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = result
    return placed


def _parameters(template: Any, data: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(template, str) and template.startswith("$"):
        return _path(template, data, context)
    if not isinstance(template, Mapping):
        return template
    out: dict[str, Any] = {}
    for key, value in template.items():
        if key.endswith(".$"):
            out[key[:-2]] = _path(value, data, context)
        else:
            out[key] = _parameters(value, data, context) if isinstance(value, Mapping) else value
    return out
