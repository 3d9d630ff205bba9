"""Fixtures shared by the suite: moto in-process AWS built from the SAM template,
shops with keys, and order payloads."""

from __future__ import annotations

import functools
import importlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from moto import mock_aws

from ops.local import moto_dynamodb
from ops.local.template import buckets, functions, load_template, tables
from shared import clock as shared_clock
from shared.auth.service import create_key, create_shop
from shared.auth.store import DynamoKeyStore
from shared.settings import Settings, get_settings

# CI machines are small and shared: property tests must not fail on timing or input size.
settings.register_profile(
    "kizuna",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("kizuna")

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
REGION = "ap-northeast-1"
SENDER = "shop@example.com"


@functools.cache
def template() -> dict[str, Any]:
    """infra/template.yaml, parsed once per session: every moto cloud is built from it, and
    nothing reads it but to build specs from it."""
    return load_template(TEMPLATE)


TODAY = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
"""The instant every test starts at (12:00 in Tokyo): no test reads the machine's date."""


TRAVEL_DAYS_ENV = "KIZUNA_TEST_TRAVEL_DAYS"
"""`make test-future` sets it: the test process's clock runs that many days ahead."""


@pytest.fixture(scope="session", autouse=True)
def _machine_clock_moved() -> Iterator[None]:
    """The machine's clock moved ahead (time.time, datetime.now, date.today), still
    ticking: a test that passes today and fails then depends on today's date."""
    days = os.environ.get(TRAVEL_DAYS_ENV)
    if not days:
        yield
        return
    import time_machine

    traveller = time_machine.travel(datetime.now(UTC) + timedelta(days=int(days)), tick=True)
    traveller.start()
    try:
        yield
    finally:
        traveller.stop()


@pytest.fixture(autouse=True)
def clock() -> Iterator[shared_clock.FixedClock]:
    """One clock for every service in the process, standing at TODAY until a test moves it."""
    fixed = shared_clock.FixedClock(TODAY)
    shared_clock.use(fixed)
    yield fixed
    shared_clock.reset()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_credentials(monkeypatch)


def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@functools.cache
def boto3_session() -> boto3.session.Session:
    """One boto3 session for every test's moto clients: a new session loads each service's
    model and endpoint rules from JSON again (most of a cloud's set-up after the template).
    moto intercepts the clients of any session while a mock is on; the services' own
    containers still build theirs as in Lambda."""
    return boto3.session.Session(region_name=REGION)


class Cloud:
    """The in-process AWS (moto) with Kizuna's resources, as the template declares them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.session = boto3_session()
        self.dynamodb = self.session.client("dynamodb")
        self.events = self.session.client("events")
        self.sqs = self.session.client("sqs")
        self.keys = DynamoKeyStore(self.dynamodb, settings.platform_table)
        self.queues: dict[str, str] = {}

    def route_rules_to_queues(self) -> dict[str, str]:
        """Each function's EventBridge rules, with their template patterns, targeting one SQS
        queue per function (as the local stack does)."""
        for spec in functions(template()):
            if not spec.rules:
                continue
            url = self.sqs.create_queue(QueueName=spec.logical_id)["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            for rule in spec.rules:
                name = f"{spec.logical_id}-{rule.name}"
                self.events.put_rule(
                    Name=name,
                    EventBusName=self.settings.event_bus_name,
                    EventPattern=rule.pattern_json,
                )
                self.events.put_targets(
                    Rule=name,
                    EventBusName=self.settings.event_bus_name,
                    Targets=[{"Id": "queue", "Arn": arn}],
                )
            self.queues[spec.logical_id] = url
        return self.queues

    def take_events(self, function_logical_id: str) -> list[dict[str, Any]]:
        """Everything the function's rule delivered so far (as Lambda would receive it)."""
        url = self.queues[function_logical_id]
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return out
            for m in messages:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def deliver(self, function_logical_id: str) -> list[dict[str, Any]]:
        """Hand what the function's rules delivered so far to its handler, one event per
        invocation as Lambda would (after `route_rules_to_queues`); the handlers' results."""
        spec = {f.logical_id: f for f in functions(load_template(TEMPLATE))}[function_logical_id]
        handler = getattr(importlib.import_module(spec.module), spec.attribute)
        return [handler(event, None) for event in self.take_events(function_logical_id)]

    def sent_mail(self) -> list[Any]:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


@pytest.fixture
def cloud(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    with open_cloud(monkeypatch) as opened:
        yield opened


@contextmanager
def open_cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    """moto with the template's tables, buckets, bus and sender, the settings pointing at
    them (a module-scoped fixture may hold one for several tests)."""
    moto_dynamodb.install()
    with mock_aws():
        for spec in tables(template()):
            monkeypatch.setenv(
                f"KIZUNA_{spec.logical_id.removesuffix('Table').upper()}_TABLE", spec.name
            )
        for bucket in buckets(template()):
            monkeypatch.setenv(
                f"KIZUNA_{bucket.logical_id.removesuffix('Bucket').upper()}_BUCKET", bucket.name
            )
        monkeypatch.setenv("KIZUNA_EVENT_BUS_NAME", "kizuna-test")
        monkeypatch.setenv("KIZUNA_SENDER_EMAIL", SENDER)
        monkeypatch.setenv("KIZUNA_PUBLIC_BASE_URL", "https://kizuna.test")
        monkeypatch.setenv("KIZUNA_SIGNING_SECRET", "test-secret-test-secret-test-secret-1234")
        get_settings.cache_clear()
        settings = get_settings()
        session = boto3_session()
        ddb = session.client("dynamodb")
        for spec in tables(template()):
            ddb.create_table(**spec.create_table_args())
        for bucket in buckets(template()):
            session.client("s3").create_bucket(
                Bucket=bucket.name, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
        session.client("events").create_event_bus(Name=settings.event_bus_name)
        session.client("sesv2").create_email_identity(EmailIdentity=SENDER)
        _reset_entrypoints()
        yield Cloud(settings)
        _reset_entrypoints()
    get_settings.cache_clear()


def _reset_entrypoints() -> None:
    import console.entrypoints.api as c_api
    import feedback.entrypoints.api as f_api
    import messenger.entrypoints.api as m_api
    import messenger.entrypoints.events as m_events
    import segmenter.entrypoints.analytics as s_analytics
    import segmenter.entrypoints.api as s_api
    import segmenter.entrypoints.events as s_events

    for module in (s_api, s_events, s_analytics, m_api, m_events, f_api, c_api):
        module.reset()


class ShopKeys:
    def __init__(self, shop_id: str, admin: str, events: str, reader: str) -> None:
        self.shop_id = shop_id
        self.admin = admin
        self.events = events
        self.reader = reader

    @staticmethod
    def header(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def make_shop(cloud: Cloud, shop_id: str) -> ShopKeys:
    issued = create_shop(cloud.keys, shop_id, f"{shop_id} store")
    from shared.auth.service import authenticate_token

    admin = authenticate_token(cloud.keys, issued.token)
    events = create_key(cloud.keys, admin, "storefront", ["events:write"])
    reader = create_key(cloud.keys, admin, "bi tool", ["segments:read", "messages:read"])
    return ShopKeys(shop_id, issued.token, events.token, reader.token)


@pytest.fixture
def shop(cloud: Cloud) -> ShopKeys:
    return make_shop(cloud, "acme")


def segment_writer(api: TestClient, shop: ShopKeys) -> dict[str, str]:
    """The headers of a new "marketer" key that writes and reads segments, made through
    the admin API as a shop would."""
    key = api.post(
        "/v1/admin/keys",
        json={"name": "marketer", "scopes": ["segments:write", "segments:read"]},
        headers=shop.header(shop.admin),
    ).json()["token"]
    return shop.header(key)


@pytest.fixture
def segmenter_client(cloud: Cloud) -> TestClient:
    from segmenter.entrypoints.api import app

    return TestClient(app)


@pytest.fixture
def messenger_client(cloud: Cloud) -> TestClient:
    from messenger.entrypoints.api import app

    return TestClient(app)


OrderFactory = Callable[..., dict[str, Any]]


def placed_today(n: int = 1) -> str:
    """An order time on the tests' day, an hour before TODAY (order n: n minutes later):
    a first order the messenger welcomes (one more than a day old it does not)."""
    return (TODAY - timedelta(hours=1) + timedelta(minutes=n)).isoformat()


def order_payload(
    n: int = 1,
    customer_id: str = "c-1",
    email: str | None = "hanako@example.jp",
    opted_in: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"evt-{customer_id}-{n}",
        "order_id": f"ord-{customer_id}-{n}",
        "placed_at": f"2026-11-{10 + n:02d}T10:00:00+09:00",
        "currency": "JPY",
        "total": "3980",
        "sales_channel": "web",
        "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980", "category": "skincare"}],
        "customer": {
            "customer_id": customer_id,
            "email": email,
            "first_name": "Hanako",
            "last_name": "Yamada",
            "consents": (
                [{"channel": "email", "granted": True, "source": "checkout"}] if opted_in else []
            ),
        },
    }
    body.update(overrides)
    return body


@pytest.fixture
def new_order() -> OrderFactory:
    return order_payload
