"""Reading the SAM template: short tags, functions with their events, local environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ops.local.template import (
    Resolver,
    TemplateError,
    TemplateLoader,
    code_dir,
    functions,
    load_template,
    state_machines,
    tables,
)

HERE = Path(__file__).resolve().parent
TEST_TEMPLATE = HERE / "template.yaml"
REAL_TEMPLATE = HERE.parent.parent / "infra" / "template.yaml"


def test_short_tags_become_long_form_intrinsics() -> None:
    # Given YAML with CloudFormation short tags
    text = """
    a: !Ref Bus
    b: !GetAtt Queue.Arn
    c: !Sub "kizuna-${AWS::StackName}"
    d: !Join [",", [x, !Ref Bus]]
    e: !GetAtt [Queue, Arn]
    """
    # When it is loaded with the template loader
    loaded = yaml.load(text, Loader=TemplateLoader)
    # Then every tag is the long JSON form CloudFormation uses
    assert loaded == {
        "a": {"Ref": "Bus"},
        "b": {"Fn::GetAtt": ["Queue", "Arn"]},
        "c": {"Fn::Sub": "kizuna-${AWS::StackName}"},
        "d": {"Fn::Join": [",", ["x", {"Ref": "Bus"}]]},
        "e": {"Fn::GetAtt": ["Queue", "Arn"]},
    }


def test_functions_list_routes_rules_and_schedules() -> None:
    # Given the test template / When its functions are read
    specs = {f.logical_id: f for f in functions(load_template(TEST_TEMPLATE))}
    # Then the API function has its three routes
    api = specs["ApiFunction"]
    assert api.handler == "fakeservice.entrypoints.api.handler"
    assert api.module == "fakeservice.entrypoints.api"
    assert [(r.path, r.method) for r in api.http_routes] == [
        ("/v1/things", "ANY"),
        ("/v1/things/{proxy+}", "ANY"),
        ("/u/{token}", "GET"),
    ]
    # And the event function has its rule (pattern verbatim, bus and DLQ by logical id)
    events = specs["EventsFunction"]
    (rule,) = events.rules
    assert rule.name == "Things"
    assert rule.pattern == {"source": ["fake.shop"], "detail-type": ["thing.happened"]}
    assert rule.bus_logical_id == "AppBus"
    assert rule.dead_letter_queue == "DeadLetters"
    # And its schedules, keyed by event name, with the Input decoded
    assert [(s.name, s.expression, s.input) for s in events.schedules] == [
        ("Tick", "rate(1 minute)", {"schedule": "tick"}),
        ("Nightly", "cron(0 18 * * ? *)", {"schedule": "nightly"}),
    ]


def test_tables_pass_their_properties_to_create_table() -> None:
    # Given the test template / When the table arguments are built
    (table,) = tables(load_template(TEST_TEMPLATE))
    args = table.create_table_args()
    # Then they are the template's own, under the local name
    assert args["TableName"] == "kizuna-local-AppTable"
    assert args["BillingMode"] == "PAY_PER_REQUEST"
    assert args["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    assert {k["AttributeName"] for k in args["KeySchema"]} == {"pk", "sk"}


def test_environment_resolves_refs_parameters_and_pseudo_parameters() -> None:
    # Given the test template and local names for its resources
    template = load_template(TEST_TEMPLATE)
    (spec, _) = functions(template)
    resolver = Resolver(
        template,
        refs={"AppTable": "kizuna-local-AppTable", "AppBus": "kizuna-local"},
        arns={"AppBus": "arn:aws:events:ap-northeast-1:123456789012:event-bus/kizuna-local"},
        parameter_overrides={"Greeting": "konnichiwa"},
    )
    # When the Globals environment is resolved
    env = resolver.environment(spec.environment)
    # Then each variable is what Lambda would see, with the parameter override applied
    assert env == {
        "KIZUNA_APP_TABLE": "kizuna-local-AppTable",
        "KIZUNA_EVENT_BUS_NAME": "kizuna-local",
        "FAKE_GREETING": "konnichiwa",
        "FAKE_BUS_ARN": "arn:aws:events:ap-northeast-1:123456789012:event-bus/kizuna-local",
        "FAKE_STACK": "local-ap-northeast-1",
    }
    # And an unknown reference is a clear error, not an empty string
    with pytest.raises(TemplateError):
        resolver.resolve({"Ref": "Nope"})


def test_code_dir_is_the_globals_code_uri() -> None:
    # Given the test template (CodeUri ./) / Then its code lives next to it
    assert code_dir(load_template(TEST_TEMPLATE), TEST_TEMPLATE) == HERE


def test_real_template_reads_cleanly() -> None:
    # Given infra/template.yaml / When it is read
    template = load_template(REAL_TEMPLATE)
    specs = functions(template)
    # Then every function has a handler path and the schedules the brief names
    assert all(s.handler.count(".") >= 2 for s in specs)
    names = {s.name for f in specs for s in f.schedules}
    assert "JourneyDispatcher" in names
    # And the nightly recompute is the state machine's schedule, its tasks one function
    (machine,) = state_machines(template)
    assert [s.name for s in machine.schedules] == ["NightlyRecompute"]
    assert set(machine.functions.values()) <= {f.logical_id for f in specs}
    assert {t.logical_id for t in tables(template)} >= {"PlatformTable", "SegmenterTable"}


def test_the_loader_parses_with_libyaml_and_reads_what_the_pure_python_parser_reads() -> None:
    # Given the template loader, and PyYAML's pure-Python SafeLoader with its constructors
    class PureLoader(yaml.SafeLoader):
        pass

    for prefix, construct in TemplateLoader.yaml_multi_constructors.items():
        PureLoader.add_multi_constructor(prefix, construct)

    # Then the loader parses in C where PyYAML has libyaml (the Python scanner was most of
    # every local stack start and every test's moto cloud)
    assert issubclass(TemplateLoader, yaml.CSafeLoader) == yaml.__with_libyaml__
    for path in (REAL_TEMPLATE, TEST_TEMPLATE):
        # When each template is read both ways / Then both give the same document
        text = path.read_text(encoding="utf-8")
        assert load_template(path) == yaml.load(text, Loader=PureLoader)


def test_an_image_function_runs_its_image_command_from_the_zip_functions_code() -> None:
    # Given infra/template.yaml, whose AnalyticsFunction is a container image
    template = load_template(REAL_TEMPLATE)
    specs = {s.logical_id: s for s in functions(template)}
    analytics = specs["AnalyticsFunction"]
    # Then its handler is the image's command, and it still gets its rule and schedule
    assert analytics.image and analytics.handler == "segmenter.entrypoints.analytics.handler"
    assert [r.name for r in analytics.rules] == ["RefreshRequests"]
    assert [s.name for s in analytics.schedules] == ["NightlyAnalytics"]
    assert not any(s.image for s in specs.values() if s.logical_id != "AnalyticsFunction")
    # And the code folder is the zip functions' CodeUri (the image copies the same folder)
    assert code_dir(template, REAL_TEMPLATE) == REAL_TEMPLATE.parents[1] / "services"


def _function(props: dict[str, object]) -> dict[str, object]:
    return {"Resources": {"Fn": {"Type": "AWS::Serverless::Function", "Properties": props}}}


def test_an_image_function_without_a_command_or_code_folders_that_differ_are_refused() -> None:
    # An image function must say what to run
    with pytest.raises(TemplateError, match=r"ImageConfig\.Command"):
        functions(_function({"PackageType": "Image", "ImageConfig": {}}))
    # And the local stack runs every zip function from one folder
    template = _function({"Handler": "a.b.handler", "CodeUri": "../services/"})
    template["Globals"] = {"Function": {"CodeUri": "./other/"}}
    with pytest.raises(TemplateError, match="CodeUri differ"):
        code_dir(template, REAL_TEMPLATE)
