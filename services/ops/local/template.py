"""Read the SAM template the local stack is built from (pure: no AWS, no moto).

The cloud and the local stack must be wired from one file, so the local stack parses
`infra/template.yaml` itself instead of keeping its own list of tables, rules and
routes. This module only understands the parts the local stack needs: tables, the
event bus, queues, functions with their HttpApi / EventBridgeRule / Schedule events,
and the intrinsic functions used in Globals and event properties.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

__all__ = [
    "LOCAL_PREFIX",
    "LOCAL_STACK_NAME",
    "BucketSpec",
    "FunctionSpec",
    "HttpRoute",
    "Resolver",
    "RuleSpec",
    "ScheduleSpec",
    "SqsSourceSpec",
    "TableSpec",
    "TemplateError",
    "TemplateLoader",
    "buckets",
    "code_dir",
    "functions",
    "load_template",
    "local_name",
    "parameter_defaults",
    "resources_of_type",
    "ses_identities",
    "tables",
]

LOCAL_STACK_NAME = "local"
"""Stands in for `AWS::StackName`, so `!Sub "kizuna-${AWS::StackName}"` gives `kizuna-local`."""

LOCAL_PREFIX = "kizuna-local"
"""Every local physical name starts with this, so a shared moto holds nothing ambiguous."""


class TemplateError(ValueError):
    """The template uses something the local stack cannot reproduce."""


class TemplateLoader(_SafeLoader):
    """A SafeLoader that turns CloudFormation short tags into their long JSON form.

    On libyaml's parser where PyYAML has it: the pure-Python scanner took most of each
    parse, and every local stack start and every test's moto cloud parse the template.

    `!Ref X` becomes `{"Ref": "X"}`, `!GetAtt A.B` becomes `{"Fn::GetAtt": ["A", "B"]}`
    and any other `!Name value` becomes `{"Fn::Name": value}`, which is what
    CloudFormation itself does with the YAML short form.
    """


def _construct_tag(loader: _SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has only these three node kinds
        raise TemplateError(f"unsupported YAML node for !{tag_suffix}")
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


TemplateLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a SAM/CloudFormation YAML template, short tags included."""
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(loaded, dict) or not isinstance(loaded.get("Resources"), dict):
        raise TemplateError(f"{path} is not a template with a Resources section")
    return loaded


def local_name(logical_id: str) -> str:
    """The local physical name of a resource: predictable, so tests and tools can find it."""
    return f"{LOCAL_PREFIX}-{logical_id}"


# ---------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class HttpRoute:
    """One `HttpApi` event: a path template like `/v1/orders/{proxy+}` and a method or ANY."""

    name: str
    path: str
    method: str


@dataclass(frozen=True)
class RuleSpec:
    """One `EventBridgeRule` event: the pattern the local rule must use verbatim."""

    name: str
    pattern: dict[str, Any]
    bus_logical_id: str | None
    dead_letter_queue: str | None = None
    """Logical id of the queue named by `DeadLetterConfig.Arn` (`!GetAtt Q.Arn`), if any."""

    @property
    def pattern_json(self) -> str:
        """The pattern as EventBridge's PutRule wants it."""
        return json.dumps(self.pattern, sort_keys=True)


@dataclass(frozen=True)
class ScheduleSpec:
    """One `Schedule` event, keyed by its logical event name (e.g. `JourneyDispatcher`)."""

    name: str
    expression: str
    input: Any
    description: str = ""


@dataclass(frozen=True)
class SqsSourceSpec:
    """One `SQS` event: the function is the consumer of a template queue (Lambda's event
    source mapping), handed `{"Records": [...]}` batches of up to `batch_size`."""

    name: str
    queue_logical_id: str
    batch_size: int = 10
    report_failures: bool = False
    """`FunctionResponseTypes: [ReportBatchItemFailures]`: the handler answers
    `batchItemFailures`, and only those records go back to the queue."""


@dataclass(frozen=True)
class FunctionSpec:
    """One `AWS::Serverless::Function` with the events the local stack reproduces."""

    logical_id: str
    handler: str
    http_routes: tuple[HttpRoute, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    schedules: tuple[ScheduleSpec, ...] = ()
    environment: Mapping[str, Any] = field(default_factory=dict)
    sqs_sources: tuple[SqsSourceSpec, ...] = ()
    image: bool = False
    """`PackageType: Image`: Lambda runs the image's `ImageConfig.Command[0]` (`handler`),
    from the same code folder as the zip functions; locally it runs in process like them."""

    @property
    def module(self) -> str:
        """The module Lambda imports, e.g. `messenger.entrypoints.events`."""
        return self.handler.rpartition(".")[0]

    @property
    def attribute(self) -> str:
        """The callable Lambda calls in that module, e.g. `handler`."""
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class TableSpec:
    """One `AWS::DynamoDB::Table`, with the CreateTable arguments taken from its properties."""

    logical_id: str
    properties: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The local table name."""
        return local_name(self.logical_id)

    def create_table_args(self) -> dict[str, Any]:
        """Arguments for DynamoDB CreateTable, straight from the template."""
        props = self.properties
        args: dict[str, Any] = {
            "TableName": self.name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("LocalSecondaryIndexes"):
            args["LocalSecondaryIndexes"] = props["LocalSecondaryIndexes"]
        if props.get("ProvisionedThroughput"):
            args["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        if props.get("StreamSpecification"):
            args["StreamSpecification"] = props["StreamSpecification"]
        return args


@dataclass(frozen=True)
class BucketSpec:
    """One `AWS::S3::Bucket`. CloudFormation names it; locally its name is derived from the
    logical id, lowercased (S3 names allow no capitals)."""

    logical_id: str

    @property
    def name(self) -> str:
        return local_name(self.logical_id).lower()


# ---------------------------------------------------------------------------- readers


def resources_of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id → resource for every resource of one type, in template order."""
    resources: Mapping[str, Any] = template.get("Resources", {})
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == resource_type
    }


def tables(template: Mapping[str, Any]) -> list[TableSpec]:
    """Every DynamoDB table the template declares."""
    return [
        TableSpec(logical_id, resource.get("Properties", {}))
        for logical_id, resource in resources_of_type(template, "AWS::DynamoDB::Table").items()
    ]


def buckets(template: Mapping[str, Any]) -> list[BucketSpec]:
    """Every S3 bucket the template declares."""
    return [BucketSpec(logical_id) for logical_id in resources_of_type(template, "AWS::S3::Bucket")]


_SES_POLICIES = ("SESCrudPolicy", "SESSendBouncePolicy", "SESBulkTemplatedCrudPolicy")


def ses_identities(template: Mapping[str, Any]) -> list[Any]:
    """Unresolved SES identities the template sends from.

    The cloud account verifies them outside the template (SAM policies only name them);
    locally they must exist in moto or every send is rejected, so the stack verifies them.
    """
    found: list[Any] = []
    for resource in resources_of_type(template, "AWS::Serverless::Function").values():
        for policy in (resource.get("Properties") or {}).get("Policies") or []:
            if not isinstance(policy, dict):
                continue
            for name in _SES_POLICIES:
                args = policy.get(name)
                if isinstance(args, dict) and "IdentityName" in args:
                    found.append(args["IdentityName"])
    for resource in resources_of_type(template, "AWS::SES::EmailIdentity").values():
        identity = (resource.get("Properties") or {}).get("EmailIdentity")
        if identity is not None:
            found.append(identity)
    return found


def parameter_defaults(template: Mapping[str, Any]) -> dict[str, str]:
    """Parameter name → its Default, as a string (CloudFormation passes parameters as text)."""
    params: Mapping[str, Any] = template.get("Parameters") or {}
    return {
        name: str(spec["Default"])
        for name, spec in params.items()
        if isinstance(spec, dict) and "Default" in spec
    }


def code_dir(template: Mapping[str, Any], template_path: Path) -> Path | None:
    """The functions' CodeUri (in Globals, or on each zip function: they must agree),
    resolved against the template folder (what Lambda puts on sys.path). An image function
    has none: its image copies the same folder, so locally it runs from there too."""
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    uris: set[str] = set()
    if isinstance(globals_fn.get("CodeUri"), str):
        uris.add(globals_fn["CodeUri"])
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        props = resource.get("Properties") or {}
        if props.get("PackageType") == "Image":
            continue
        uri = props.get("CodeUri")
        if uri is not None and not isinstance(uri, str):
            raise TemplateError(f"{logical_id}: the local stack needs CodeUri as a folder path")
        if uri is not None:
            uris.add(uri)
    if not uris:
        return None
    if len(uris) > 1:
        raise TemplateError(
            f"the functions' CodeUri differ ({', '.join(sorted(uris))}); "
            "the local stack runs every function from one folder"
        )
    return (template_path.parent / uris.pop()).resolve()


def _handler(logical_id: str, props: Mapping[str, Any], globals_fn: Mapping[str, Any]) -> str:
    """`Handler`, or for an image function the first word of `ImageConfig.Command` (what the
    Lambda base image's entrypoint runs)."""
    if props.get("PackageType") == "Image":
        command = (props.get("ImageConfig") or {}).get("Command")
        handler = command[0] if isinstance(command, list) and command else None
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(
                f"{logical_id}: an image function needs ImageConfig.Command ['module.attribute']"
            )
        return handler
    handler = props.get("Handler") or globals_fn.get("Handler")
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{logical_id}: Handler must be 'module.attribute'")
    return handler


def _ref_target(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"Ref"} and isinstance(value["Ref"], str):
        return value["Ref"]
    return None


def functions(template: Mapping[str, Any]) -> list[FunctionSpec]:
    """Every serverless function with its HTTP routes, EventBridge rules and schedules."""
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    global_env: Mapping[str, Any] = (globals_fn.get("Environment") or {}).get("Variables") or {}
    specs: list[FunctionSpec] = []
    seen_schedules: dict[str, str] = {}
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        props = resource.get("Properties") or {}
        handler = _handler(logical_id, props, globals_fn)
        env = dict(global_env)
        env.update((props.get("Environment") or {}).get("Variables") or {})
        routes: list[HttpRoute] = []
        rules: list[RuleSpec] = []
        schedules: list[ScheduleSpec] = []
        sqs_sources: list[SqsSourceSpec] = []
        for event_name, event in (props.get("Events") or {}).items():
            kind = event.get("Type")
            eprops = event.get("Properties") or {}
            if kind == "HttpApi":
                routes.append(
                    HttpRoute(
                        event_name,
                        str(eprops.get("Path", "/{proxy+}")),
                        str(eprops.get("Method", "ANY")).upper(),
                    )
                )
            elif kind == "EventBridgeRule":
                pattern = eprops.get("Pattern")
                if not isinstance(pattern, dict):
                    raise TemplateError(f"{logical_id}.{event_name}: Pattern must be a mapping")
                dlq_arn = (eprops.get("DeadLetterConfig") or {}).get("Arn")
                dlq = None
                if isinstance(dlq_arn, dict) and "Fn::GetAtt" in dlq_arn:
                    dlq = str(dlq_arn["Fn::GetAtt"][0])
                rules.append(
                    RuleSpec(event_name, pattern, _ref_target(eprops.get("EventBusName")), dlq)
                )
            elif kind == "Schedule":
                if event_name in seen_schedules:
                    raise TemplateError(
                        f"schedule {event_name} is declared by {seen_schedules[event_name]} "
                        f"and {logical_id}; schedule event names must be unique"
                    )
                seen_schedules[event_name] = logical_id
                raw_input = eprops.get("Input")
                schedules.append(
                    ScheduleSpec(
                        event_name,
                        str(eprops["Schedule"]),
                        json.loads(raw_input) if isinstance(raw_input, str) else raw_input,
                        str(eprops.get("Description", "")),
                    )
                )
            elif kind == "SQS":
                sqs_sources.append(_sqs_source(logical_id, event_name, eprops))
        specs.append(
            FunctionSpec(
                logical_id,
                handler,
                tuple(routes),
                tuple(rules),
                tuple(schedules),
                env,
                tuple(sqs_sources),
                image=props.get("PackageType") == "Image",
            )
        )
    return specs


def _sqs_source(logical_id: str, event_name: str, eprops: Mapping[str, Any]) -> SqsSourceSpec:
    queue = eprops.get("Queue")
    if not (isinstance(queue, dict) and "Fn::GetAtt" in queue and queue["Fn::GetAtt"][1] == "Arn"):
        raise TemplateError(
            f"{logical_id}.{event_name}: the local stack needs Queue as !GetAtt <queue>.Arn"
        )
    types = eprops.get("FunctionResponseTypes") or []
    return SqsSourceSpec(
        event_name,
        str(queue["Fn::GetAtt"][0]),
        int(eprops.get("BatchSize", 10)),
        "ReportBatchItemFailures" in types,
    )


# ---------------------------------------------------------------------------- intrinsics

_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


class Resolver:
    """Evaluates the intrinsic functions of a template against local names.

    `refs` maps a logical id to what `Ref` returns locally (table name, bus name, queue
    URL); `arns` maps a logical id to its `Arn` attribute. Parameters resolve to their
    Default unless overridden; pseudo parameters to local values.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        refs: Mapping[str, str],
        arns: Mapping[str, str] | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
        region: str = "ap-northeast-1",
        account_id: str = "123456789012",
    ) -> None:
        self._refs: dict[str, str] = dict(refs)
        self._arns: dict[str, str] = dict(arns or {})
        params = parameter_defaults(template)
        params.update(parameter_overrides or {})
        self._refs.update(params)
        self._refs.update(
            {
                "AWS::StackName": LOCAL_STACK_NAME,
                "AWS::Region": region,
                "AWS::AccountId": account_id,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            }
        )

    def ref(self, name: str) -> str:
        """What `!Ref name` gives locally."""
        if name not in self._refs:
            raise TemplateError(f"cannot resolve Ref {name} locally")
        return self._refs[name]

    def get_att(self, resource: str, attribute: str) -> str:
        """What `!GetAtt resource.attribute` gives locally (only Arn is known)."""
        if attribute == "Arn" and resource in self._arns:
            return self._arns[resource]
        raise TemplateError(f"cannot resolve GetAtt {resource}.{attribute} locally")

    def sub(self, text: str, variables: Mapping[str, Any] | None = None) -> str:
        """`!Sub`: replace `${Name}` and `${Res.Attr}`; `${!Literal}` stays `${Literal}`."""
        extra = {k: self.resolve(v) for k, v in (variables or {}).items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in extra:
                return str(extra[name])
            if "." in name and not name.startswith("AWS::"):
                resource, _, attribute = name.partition(".")
                return self.get_att(resource, attribute)
            return self.ref(name)

        return _SUB_VAR.sub(replace, text).replace("${!", "${")

    def resolve(self, value: Any) -> Any:
        """Evaluate every intrinsic function inside a value."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(str(parts[0]), str(parts[1]))
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self.sub(str(arg[0]), arg[1] if len(arg) > 1 else None)
                return self.sub(str(arg))
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(item) for item in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the local stack")
        return {k: self.resolve(v) for k, v in value.items()}

    def environment(self, variables: Mapping[str, Any]) -> dict[str, str]:
        """Resolve a function's environment variables to the strings Lambda would see."""
        resolved: dict[str, str] = {}
        for name, raw in variables.items():
            value = self.resolve(raw)
            resolved[name] = value if isinstance(value, str) else json.dumps(value)
        return resolved


@dataclass(frozen=True)
class StateMachineSpec:
    """One `AWS::Serverless::StateMachine`: its ASL definition, the function each
    `${Name}` of its DefinitionSubstitutions names (`!GetAtt Fn.Arn`), its schedules."""

    logical_id: str
    definition: Mapping[str, Any]
    functions: Mapping[str, str]
    schedules: tuple[ScheduleSpec, ...] = ()


def state_machines(template: Mapping[str, Any]) -> list[StateMachineSpec]:
    """Every serverless state machine with an inline `Definition` (the local stack runs
    them with `ops.local.states`)."""
    specs = []
    for logical_id, resource in resources_of_type(
        template, "AWS::Serverless::StateMachine"
    ).items():
        props = resource.get("Properties") or {}
        if not isinstance(props.get("Definition"), dict):
            raise TemplateError(f"{logical_id}: only an inline Definition is run locally")
        targets: dict[str, str] = {}
        for name, value in (props.get("DefinitionSubstitutions") or {}).items():
            if not (isinstance(value, dict) and "Fn::GetAtt" in value):
                raise TemplateError(f"{logical_id}.{name}: expected !GetAtt Function.Arn")
            targets[name] = str(value["Fn::GetAtt"][0])
        schedules = []
        for event_name, event in (props.get("Events") or {}).items():
            if event.get("Type") != "Schedule":
                raise TemplateError(f"{logical_id}.{event_name}: only Schedule events run locally")
            eprops = event.get("Properties") or {}
            raw_input = eprops.get("Input")
            schedules.append(
                ScheduleSpec(
                    event_name,
                    str(eprops["Schedule"]),
                    json.loads(raw_input) if isinstance(raw_input, str) else raw_input,
                    str(eprops.get("Description", "")),
                )
            )
        specs.append(StateMachineSpec(logical_id, props["Definition"], targets, tuple(schedules)))
    return specs
