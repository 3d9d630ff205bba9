"""The local stack: the SAM template run in one process on moto, with no AWS account.

Everything is derived from the template so local and cloud cannot drift: tables from
its table resources, the bus and DLQ from theirs, for each EventBridgeRule the same
pattern on the moto bus delivered through an SQS queue to the same handler Lambda would
call, each SQS event source (a template queue a function consumes) polled and handed to
its function as Lambda's `{"Records": [...]}` batches, with `batchItemFailures` honoured,
schedules fired by a local clock (moto never fires them), and the HTTP API served
on one base URL with the template's routes. With a `state_dir`, moto's recorder keeps
the state across restarts (see `ops.local.recording`).
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import json
import logging
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Self, TypedDict

from ops.local import moto_dynamodb, moto_queues, persistence
from ops.local.moto_client import serve_dynamodb_directly
from ops.local.recording import (
    CompactResult,
    append_entry,
    compact_recording,
    install_record_filter,
    journal_entry,
)
from ops.local.router import Dispatcher, build_routes
from ops.local.sandbox import (
    LINE_SANDBOX_ENV,
    SandboxMessage,
    line_messages,
    moto_mail_messages,
    moto_sms_messages,
)
from ops.local.schedule import Schedule, parse_schedule
from ops.local.states import StateMachineRunner
from ops.local.template import (
    BucketSpec,
    FunctionSpec,
    Resolver,
    ScheduleSpec,
    SqsSourceSpec,
    StateMachineSpec,
    TableSpec,
    TemplateError,
    buckets,
    code_dir,
    functions,
    load_template,
    local_name,
    resources_of_type,
    ses_identities,
    state_machines,
    tables,
)
from shared import clock as shared_clock
from shared.settings import LOCAL_SIGNING_SECRET

if TYPE_CHECKING:
    import uvicorn
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "DeadLetter",
    "HandlerFailure",
    "LocalStack",
    "LocalStackError",
    "UnknownScheduleError",
    "find_template",
]

logger = logging.getLogger("kizuna.local")

ACCOUNT_ID = "123456789012"
"""moto's default account: ARNs the stack computes must match the ones moto returns."""

LOCAL_PARAMETERS = {"SigningSecret": LOCAL_SIGNING_SECRET}
"""Values for template parameters a deploy must choose (they have no Default). They are
public, which the settings accept only because the stack runs with KIZUNA_SANDBOX=true."""

Handler = Callable[[dict[str, Any], Any], Any]


class LocalStackError(RuntimeError):
    """The local stack cannot do what was asked (not started, bad template, ...)."""


class UnknownScheduleError(LocalStackError, LookupError):
    """No schedule event of that name in the template."""


class DeadLetter(TypedDict):
    """An event that exhausted its local retries and sits in the DLQ."""

    message_id: str
    event: Any


@dataclass(frozen=True)
class RestoreResult:
    """What a start brought back: snapshot items, journal entries, re-sent events."""

    items: int
    journal_entries: int
    resent_events: int
    seconds: float


@dataclass(frozen=True)
class CheckpointResult:
    """What a snapshot holds, and what is left in the journal after it."""

    items: int
    queued_events: int
    journal_entries: int
    seconds: float


@dataclass(frozen=True)
class HandlerFailure:
    """A failed delivery, kept in memory for tests and debugging (never logged in full)."""

    function_id: str
    event_id: str | None
    detail_type: str | None
    error_class: str
    error: BaseException = field(repr=False, compare=False)


@dataclass
class _Consumer:
    function: FunctionSpec
    queue_name: str
    dlq_logical_id: str | None
    queue_url: str = ""
    thread: threading.Thread | None = None
    source: SqsSourceSpec | None = None
    """An SQS event source: the queue is the template's own (its redrive policy too), and
    the handler gets `{"Records": [...]}`. None: the stack's queue for the function's
    EventBridge rules, one event per message."""

    @property
    def source_name(self) -> str | None:
        return self.source.name if self.source is not None else None


@dataclass(frozen=True)
class _BoundSchedule:
    function: FunctionSpec | None
    spec: ScheduleSpec
    schedule: Schedule
    machine: StateMachineSpec | None = None
    """A state machine's schedule: run by `ops.local.states` on the local functions."""


def _serve_boto3_in_process(on: bool) -> None:
    """moto's `before-send` hook (registered in botocore's BUILTIN_HANDLERS when moto is
    imported) answers requests to AWS's own endpoints from the in-process backends: the
    ones the moto server serves too. Requests to an explicit endpoint (the server's URL)
    still go over HTTP."""
    from moto.core.models import botocore_stubber

    botocore_stubber.enabled = on


def find_template(start: Path | None = None) -> Path:
    """`infra/template.yaml` of the repository: searched upward from `start`, cwd and this file."""
    bases = [start] if start is not None else [Path.cwd(), Path(__file__).resolve()]
    for base in bases:
        for folder in [base, *base.parents]:
            candidate = folder / "infra" / "template.yaml"
            if candidate.is_file():
                return candidate
    raise FileNotFoundError("infra/template.yaml not found above the working directory")


class LocalStack:
    """Runs the template locally: moto server, queues and pollers, schedules, one HTTP API."""

    def __init__(
        self,
        template_path: Path,
        state_dir: Path | None = None,
        moto_port: int = 0,
        api_port: int = 0,
        auto_schedule: bool = True,
        parameter_overrides: dict[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        region: str = "ap-northeast-1",
        max_receive_count: int = 3,
        visibility_timeout: int = 2,
        clock: Callable[[], datetime] | None = None,
        checkpoint_seconds: float = 300,
        in_process_aws: bool = True,
    ) -> None:
        self.template_path = Path(template_path).resolve()
        self.template = load_template(self.template_path)
        self.state_dir = Path(state_dir).resolve() if state_dir is not None else None
        self.auto_schedule = auto_schedule
        self.parameter_overrides = {**LOCAL_PARAMETERS, **(parameter_overrides or {})}
        self.region = region
        self.max_receive_count = max_receive_count
        self.visibility_timeout = visibility_timeout
        self._clock = clock or shared_clock.now
        self.checkpoint_seconds = checkpoint_seconds
        self.in_process_aws = in_process_aws
        """Whether the handlers in this process reach moto without HTTP (the default)."""
        self._host = host
        self._moto_port = moto_port
        self._api_port = api_port

        self.functions = functions(self.template)
        self.tables: list[TableSpec] = tables(self.template)
        self.buckets: list[BucketSpec] = buckets(self.template)
        self._schedules: dict[str, _BoundSchedule] = {
            s.name: _BoundSchedule(fn, s, parse_schedule(s.expression))
            for fn in self.functions
            for s in fn.schedules
        }
        self.state_machines = state_machines(self.template)
        for machine in self.state_machines:
            for s in machine.schedules:
                if s.name in self._schedules:
                    raise TemplateError(f"schedule {s.name} is declared twice")
                self._schedules[s.name] = _BoundSchedule(
                    None, s, parse_schedule(s.expression), machine
                )
        self._bus_names = self._resolve_bus_names()
        self._queue_ids = list(resources_of_type(self.template, "AWS::SQS::Queue"))
        self._consumers = [
            _Consumer(fn, local_name(fn.logical_id), self._dlq_for(fn))
            for fn in self.functions
            if fn.rules
        ]
        self._consumers += [
            _Consumer(fn, local_name(source.queue_logical_id), None, source=source)
            for fn in self.functions
            for source in fn.sqs_sources
        ]
        self._dispatcher = Dispatcher(build_routes(self.functions), control=self)

        self._moto: Any = None
        self._uvicorn: uvicorn.Server | None = None
        self._uvicorn_thread: threading.Thread | None = None
        self._scheduler_thread: threading.Thread | None = None
        self._checkpoint_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._moto_url: str | None = None
        self._api_url: str | None = None
        self._environment: dict[str, str] = {}
        self._saved_environ: dict[str, str | None] = {}
        self._added_sys_path: str | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._queue_urls: dict[str, str] = {}
        self._settle_sqs: SQSClient | None = None
        self._failures: deque[HandlerFailure] = deque(maxlen=1000)
        self.last_compaction: CompactResult | None = None
        self.last_restore: RestoreResult | None = None

    # ------------------------------------------------------------------ template names

    def _resolve_bus_names(self) -> dict[str, str]:
        base = Resolver(
            self.template, {}, parameter_overrides=self.parameter_overrides, region=self.region
        )
        names: dict[str, str] = {}
        for logical_id, resource in resources_of_type(
            self.template, "AWS::Events::EventBus"
        ).items():
            raw = (resource.get("Properties") or {}).get("Name")
            names[logical_id] = str(base.resolve(raw)) if raw else local_name(logical_id)
        return names

    def _dlq_for(self, fn: FunctionSpec) -> str | None:
        for rule in fn.rules:
            if rule.dead_letter_queue:
                return rule.dead_letter_queue
        # No DeadLetterConfig: locally a failing event must still stop somewhere.
        return self._queue_ids[0] if self._queue_ids else None

    def _bus_name(self, logical_id: str | None) -> str:
        if logical_id is not None and logical_id in self._bus_names:
            return self._bus_names[logical_id]
        if logical_id is None and len(self._bus_names) == 1:
            return next(iter(self._bus_names.values()))
        if logical_id is None:
            return "default"
        raise TemplateError(f"event bus {logical_id} is not in the template")

    @property
    def bus_name(self) -> str:
        """The local name of the template's (first) event bus."""
        if not self._bus_names:
            raise LocalStackError("the template declares no AWS::Events::EventBus")
        return next(iter(self._bus_names.values()))

    @property
    def dead_letter_queue_name(self) -> str | None:
        """The local name of the template's DLQ (the queue the rules send failures to)."""
        for consumer in self._consumers:
            if consumer.dlq_logical_id:
                return local_name(consumer.dlq_logical_id)
        return local_name(self._queue_ids[0]) if self._queue_ids else None

    # ------------------------------------------------------------------ public properties

    @property
    def started(self) -> bool:
        """Whether start() ran and stop() has not."""
        return self._moto_url is not None

    @property
    def aws_endpoint_url(self) -> str:
        """The moto server URL (what AWS_ENDPOINT_URL is set to)."""
        if self._moto_url is None:
            raise LocalStackError("the local stack is not started")
        return self._moto_url

    @property
    def api_base_url(self) -> str:
        """The one base URL that serves every function's HTTP routes."""
        if self._api_url is None:
            raise LocalStackError("the local stack is not started")
        return self._api_url

    @property
    def environment(self) -> dict[str, str]:
        """The environment variables the stack set for the in-process handlers."""
        return dict(self._environment)

    @property
    def recording_path(self) -> Path | None:
        """Where moto's recorder keeps the requests that make up the local state."""
        return self.state_dir / "moto-recording.jsonl" if self.state_dir else None

    def _state_file(self, name: str) -> Path | None:
        return self.state_dir / name if self.state_dir else None

    @property
    def line_sandbox_path(self) -> Path:
        """The JSONL file the sandbox LINE channel appends to (`KIZUNA_LINE_SANDBOX_FILE`)."""
        if self.state_dir is not None:
            return self.state_dir / "line-sandbox.jsonl"
        if self._tempdir is None:
            raise LocalStackError("the local stack is not started")
        return Path(self._tempdir.name) / "line-sandbox.jsonl"

    def _aws_config(self) -> Path:
        """botocore's config file for every client of the stack (the handlers in this
        process, the CLI's `--local`): no client-side parameter validation. Checking each
        request against the service model was a tenth of an order's ingest here; moto
        checks what it serves, and the tests' clients (`cloud`) still validate, so a
        malformed request still fails there."""
        path = self.line_sandbox_path.with_name("aws-config")
        path.write_text("[default]\nparameter_validation = false\n", encoding="utf-8")
        return path

    def client(self, service: str) -> Any:
        """A boto3 client for the moto server (created on demand, never at import)."""
        import boto3

        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
            region_name=self.region,
        )
        return session.client(service, endpoint_url=self.aws_endpoint_url)  # type: ignore[call-overload]

    def _own_client(self, service: str) -> Any:
        """A client for the stack's own threads (the pollers, the drain): served in this
        process by moto's botocore hook, without HTTP to its own server, when the
        handlers are (`in_process_aws`); else the server's."""
        if not self.in_process_aws:
            return self.client(service)
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
            region_name=self.region,
        )
        config = Config(parameter_validation=False)
        return session.client(service, config=config)  # type: ignore[call-overload]

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Boot moto, restore recorded state, create the template's resources, start serving."""
        if self.started:
            raise LocalStackError("the local stack is already started")
        from moto.moto_api import recorder
        from moto.server import ThreadedMotoServer

        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        else:
            self._tempdir = tempfile.TemporaryDirectory(prefix="kizuna-local-")
        install_record_filter(recorder)
        moto_dynamodb.install()
        moto_queues.install()
        werkzeug_log = logging.getLogger("werkzeug")
        if werkzeug_log.level == logging.NOTSET:
            werkzeug_log.setLevel(logging.WARNING)  # one line per moto request drowns the rest
        recorder.stop_recording()  # a previous stack in this process may have left it on
        location = self.recording_path or Path(self._tempdir.name) / "unused.jsonl"  # type: ignore[union-attr]
        recorder._location = str(location)

        self._stop.clear()
        self._moto = ThreadedMotoServer(ip_address=self._host, port=self._moto_port, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self._moto_url = f"http://{host}:{port}"
        try:
            self._boot()
        except BaseException:
            self._shutdown_threads()
            self._moto.stop()
            self._moto_url = None
            self._restore_environ()
            raise

    def _boot(self) -> None:
        # moto's backends are process-global: a fresh stack starts from a clean slate, like
        # a fresh server would, so replaying the recording cannot duplicate anything.
        self._moto_api("reset")
        self._ensure_resources()
        started = time.monotonic()
        snapshot = self._state_file(persistence.SNAPSHOT_FILE)
        items = persistence.load_snapshot(snapshot, ACCOUNT_ID, self.region) if snapshot else 0
        recording = self.recording_path
        replayed = 0
        if recording is not None and recording.exists():
            self.last_compaction = compact_recording(recording)
            logger.info(
                "replaying local state: %d requests kept, %d dropped, %d unreadable",
                self.last_compaction.kept,
                self.last_compaction.dropped,
                self.last_compaction.corrupt,
            )
            # moto rewrites each recorded URL onto the host of this request (the new port).
            self._moto_api("recorder/replay-recording", timeout=600)
            replayed = self.last_compaction.kept
            self._ensure_resources()  # the template wins over anything replayed
        resent = self._resend_pending()
        self.last_restore = RestoreResult(items, replayed, resent, time.monotonic() - started)
        if recording is not None:
            self._moto_api("recorder/start-recording")
            moto_dynamodb.set_journal(
                lambda handler: append_entry(recording, journal_entry(handler))
            )

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._api_port))
        self._api_url = f"http://{self._host}:{sock.getsockname()[1]}"
        self._apply_environment()
        self._start_pollers()
        if self.auto_schedule and self._schedules:
            self._scheduler_thread = threading.Thread(
                target=self._run_scheduler, name="kizuna-local-scheduler", daemon=True
            )
            self._scheduler_thread.start()
        if self.state_dir is not None and self.checkpoint_seconds > 0:
            self._checkpoint_thread = threading.Thread(
                target=self._run_checkpoints, name="kizuna-local-checkpoint", daemon=True
            )
            self._checkpoint_thread.start()
        self._start_http(sock)

    def stop(self, drain_timeout: float = 30) -> None:
        """Drain pending events, stop pollers, scheduler and the HTTP server, take a
        snapshot (with the events still queued, sent again on the next start), stop moto."""
        if not self.started:
            return
        try:
            self.drain(timeout=drain_timeout)
        except TimeoutError as exc:
            logger.warning("stopping with events still queued, kept for the next start: %s", exc)
        self._shutdown_threads()
        self._settle_sqs = None
        if self.state_dir is not None:
            self.checkpoint()
        moto_dynamodb.set_journal(None)
        try:
            self._moto_api("recorder/stop-recording")
        except OSError:
            logger.warning("could not stop moto's recorder")
        self._call_reset_hooks()
        self._moto.stop()
        self._moto = None
        self._moto_url = None
        self._api_url = None
        self._restore_environ()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def _shutdown_threads(self) -> None:
        self._stop.set()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._uvicorn_thread is not None:
            self._uvicorn_thread.join(timeout=10)
        for consumer in self._consumers:
            if consumer.thread is not None:
                consumer.thread.join(timeout=10)
                consumer.thread = None
        if self._scheduler_thread is not None:
            self._scheduler_thread.join(timeout=10)
        if self._checkpoint_thread is not None:
            self._checkpoint_thread.join(timeout=60)
        self._uvicorn = self._uvicorn_thread = self._scheduler_thread = None
        self._checkpoint_thread = None
        self._dispatcher.forget_apps()

    # ------------------------------------------------------------------ persistence

    def checkpoint(self) -> CheckpointResult:
        """Snapshot every table, the queued events and the sandbox, and cut the journal to
        what comes after: a restart then replays only that (see `ops.local.persistence`)."""
        if self.state_dir is None:
            raise LocalStackError("the local stack has no state folder")
        started = time.monotonic()
        with moto_dynamodb.exclusive():
            items = persistence.write_snapshot(
                self.state_dir / persistence.SNAPSHOT_FILE, ACCOUNT_ID, self.region
            )
            queued = persistence.queued_events(
                ACCOUNT_ID, self.region, [c.queue_name for c in self._consumers]
            )
            persistence.write_pending(self.state_dir / persistence.PENDING_FILE, queued)
            persistence.archive_sandbox(
                self.state_dir / persistence.ARCHIVE_FILE,
                [*moto_mail_messages(), *moto_sms_messages()],
            )
            assert self.recording_path is not None
            kept = compact_recording(self.recording_path, after_snapshot=True)
        result = CheckpointResult(items, len(queued), kept.kept, time.monotonic() - started)
        logger.info(
            "local state snapshot: %d items, %d queued events, %d journal entries kept (%.1fs)",
            result.items,
            result.queued_events,
            result.journal_entries,
            result.seconds,
        )
        return result

    def _run_checkpoints(self) -> None:
        while not self._stop.wait(self.checkpoint_seconds):
            try:
                self.checkpoint()
            except Exception as exc:
                logger.warning("local state snapshot failed: %s", type(exc).__name__)

    def _resend_pending(self) -> int:
        """Send the events queued at the last snapshot to their queues again (before the
        recorder starts, so they are not journaled twice)."""
        path = self._state_file(persistence.PENDING_FILE)
        events = persistence.read_pending(path) if path else []
        if not events:
            return 0
        sqs: SQSClient = self.client("sqs")
        urls = {c.queue_name: c.queue_url for c in self._consumers}
        sent = 0
        for event in events:
            url = urls.get(event["queue"])
            if url is not None:
                sqs.send_message(QueueUrl=url, MessageBody=event["body"])
                sent += 1
        return sent

    def _moto_api(self, path: str, timeout: float = 30) -> bytes:
        request = urllib.request.Request(  # noqa: S310 - the local moto server, http only
            f"{self.aws_endpoint_url}/moto-api/{path}", data=b"", method="POST"
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read()
            return body

    # ------------------------------------------------------------------ resources

    def _ensure_resources(self) -> None:
        """Create whatever the template declares and moto lacks; update what can change."""
        ddb: DynamoDBClient = self.client("dynamodb")
        existing = set(ddb.list_tables().get("TableNames", []))
        for table in self.tables:
            if table.name not in existing:
                ddb.create_table(**table.create_table_args())

        s3 = self.client("s3")
        have_buckets = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for bucket in self.buckets:
            if bucket.name not in have_buckets:
                s3.create_bucket(
                    Bucket=bucket.name,
                    CreateBucketConfiguration={"LocationConstraint": self.region},
                )

        events: EventBridgeClient = self.client("events")
        known_buses = {b["Name"] for b in events.list_event_buses().get("EventBuses", [])}
        for bus in self._bus_names.values():
            if bus not in known_buses:
                events.create_event_bus(Name=bus)

        self._ensure_ses_identities()

        sqs: SQSClient = self.client("sqs")
        arns: dict[str, str] = {}
        consumed = {c.source.queue_logical_id for c in self._consumers if c.source}
        for logical_id in self._queue_ids:
            props = (
                resources_of_type(self.template, "AWS::SQS::Queue")[logical_id].get("Properties")
                or {}
            )
            attributes = {
                k: str(props[k])
                for k in ("MessageRetentionPeriod", "VisibilityTimeout")
                if k in props
            }
            if logical_id in consumed:
                # A failed record comes back after the stack's short timeout, not the
                # cloud's (sized to the function's timeout), as for the rules' queues.
                attributes["VisibilityTimeout"] = str(self.visibility_timeout)
            url, arn = self._ensure_queue(sqs, local_name(logical_id), attributes)
            self._queue_urls[logical_id] = url
            arns[logical_id] = arn
        self._ensure_redrive_policies(sqs, arns)
        for consumer in self._consumers:
            if consumer.source is not None:
                consumer.queue_url = self._queue_urls[consumer.source.queue_logical_id]
                continue
            attributes = {"VisibilityTimeout": str(self.visibility_timeout)}
            if consumer.dlq_logical_id is not None:
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": arns[consumer.dlq_logical_id],
                        "maxReceiveCount": self.max_receive_count,
                    }
                )
            consumer.queue_url, queue_arn = self._ensure_queue(sqs, consumer.queue_name, attributes)
            for rule in consumer.function.rules:
                rule_name = f"{local_name(consumer.function.logical_id)}-{rule.name}"[:64]
                bus = self._bus_name(rule.bus_logical_id)
                events.put_rule(
                    Name=rule_name,
                    EventPattern=rule.pattern_json,
                    EventBusName=bus,
                    State="ENABLED",
                )
                events.put_targets(
                    Rule=rule_name,
                    EventBusName=bus,
                    Targets=[{"Id": "local-queue", "Arn": queue_arn}],
                )

    def _ensure_redrive_policies(self, sqs: SQSClient, arns: dict[str, str]) -> None:
        """Each template queue's `RedrivePolicy` (its DLQ named by `!GetAtt Q.Arn`), set
        once every queue exists, whatever their order in the template."""
        queues = resources_of_type(self.template, "AWS::SQS::Queue")
        for logical_id in self._queue_ids:
            policy = (queues[logical_id].get("Properties") or {}).get("RedrivePolicy")
            if not isinstance(policy, dict):
                continue
            target = policy.get("deadLetterTargetArn")
            if isinstance(target, dict) and "Fn::GetAtt" in target:
                target = arns[str(target["Fn::GetAtt"][0])]
            redrive = {
                "deadLetterTargetArn": str(target),
                "maxReceiveCount": int(policy.get("maxReceiveCount", self.max_receive_count)),
            }
            sqs.set_queue_attributes(
                QueueUrl=self._queue_urls[logical_id],
                Attributes={"RedrivePolicy": json.dumps(redrive)},
            )

    def _ensure_ses_identities(self) -> None:
        """Verify the identities the template's SES policies name, as the cloud account has."""
        resolver = self._resolver()
        wanted = {str(resolver.resolve(raw)) for raw in ses_identities(self.template)}
        if not wanted:
            return
        ses = self.client("sesv2")
        have = {i["IdentityName"] for i in ses.list_email_identities().get("EmailIdentities", [])}
        for identity in sorted(wanted - have):
            ses.create_email_identity(EmailIdentity=identity)

    @staticmethod
    def _ensure_queue(sqs: SQSClient, name: str, attributes: dict[str, str]) -> tuple[str, str]:
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
        if attributes:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # type: ignore[arg-type]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return url, arn

    # ------------------------------------------------------------------ environment

    def _resolver(self) -> Resolver:
        refs: dict[str, str] = {
            logical_id: local_name(logical_id) for logical_id in self.template["Resources"]
        }
        arns: dict[str, str] = {}
        for table in self.tables:
            refs[table.logical_id] = table.name
            arns[table.logical_id] = (
                f"arn:aws:dynamodb:{self.region}:{ACCOUNT_ID}:table/{table.name}"
            )
        for bucket in self.buckets:
            refs[bucket.logical_id] = bucket.name
            arns[bucket.logical_id] = f"arn:aws:s3:::{bucket.name}"
        for logical_id, bus in self._bus_names.items():
            refs[logical_id] = bus
            arns[logical_id] = f"arn:aws:events:{self.region}:{ACCOUNT_ID}:event-bus/{bus}"
        for logical_id in self._queue_ids:
            refs[logical_id] = self._queue_urls.get(logical_id, local_name(logical_id))
            arns[logical_id] = f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{local_name(logical_id)}"
        return Resolver(
            self.template, refs, arns, self.parameter_overrides, self.region, ACCOUNT_ID
        )

    def _build_environment(self) -> dict[str, str]:
        resolver = self._resolver()
        env: dict[str, str] = {}
        for fn in self.functions:
            for name, value in resolver.environment(fn.environment).items():
                if name in env and env[name] != value:
                    # One process hosts every function, so one value has to win.
                    logger.warning("%s differs between functions; using the first", name)
                    continue
                env[name] = value
        env.update(
            {
                "AWS_ENDPOINT_URL": self.aws_endpoint_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "KIZUNA_SANDBOX": "true",
                LINE_SANDBOX_ENV: str(self.line_sandbox_path),
                "AWS_CONFIG_FILE": str(self._aws_config()),
            }
        )
        if "PublicBaseUrl" not in self.parameter_overrides:
            env["KIZUNA_PUBLIC_BASE_URL"] = self.api_base_url
        return env

    def _apply_environment(self) -> None:
        env = self._build_environment()
        applied = dict(env)
        if self.in_process_aws:
            # The handlers run in this process, beside moto: their clients keep AWS's own
            # endpoints, and moto's botocore hook serves them here, without a socket.
            # Out-of-process tools (the CLI, a BI tool) use the server (`environment`).
            applied.pop("AWS_ENDPOINT_URL")
            if "AWS_ENDPOINT_URL" not in self._saved_environ:
                self._saved_environ["AWS_ENDPOINT_URL"] = os.environ.get("AWS_ENDPOINT_URL")
            os.environ.pop("AWS_ENDPOINT_URL", None)
            _serve_boto3_in_process(True)
            serve_dynamodb_directly(True)
        for name, value in applied.items():
            if name not in self._saved_environ:
                self._saved_environ[name] = os.environ.get(name)
            os.environ[name] = value
        self._environment = env
        folder = code_dir(self.template, self.template_path)
        if folder is not None and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
            self._added_sys_path = str(folder)
        self._clear_settings_cache()
        self._call_reset_hooks()

    def _restore_environ(self) -> None:
        if self.in_process_aws:
            _serve_boto3_in_process(False)
            serve_dynamodb_directly(False)
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ = {}
        self._environment = {}
        if self._added_sys_path is not None and self._added_sys_path in sys.path:
            sys.path.remove(self._added_sys_path)
        self._added_sys_path = None
        self._clear_settings_cache()

    @staticmethod
    def _clear_settings_cache() -> None:
        try:
            from shared.settings import get_settings
        except ImportError:  # pragma: no cover - settings ship with shared
            return
        get_settings.cache_clear()

    def _call_reset_hooks(self) -> None:
        """Let already-imported entrypoints drop clients and caches built for the old env."""
        for module_name in sorted({fn.module for fn in self.functions}):
            module = sys.modules.get(module_name)
            reset = getattr(module, "reset", None) if module is not None else None
            if callable(reset):
                reset()

    # ------------------------------------------------------------------ handlers

    @staticmethod
    def _handler(fn: FunctionSpec) -> Handler:
        module = importlib.import_module(fn.module)
        handler = getattr(module, fn.attribute, None)
        if not callable(handler):
            raise LocalStackError(f"{fn.handler} is not callable")
        return handler  # type: ignore[no-any-return]

    def _enter_busy(self) -> None:
        with self._busy_lock:
            self._busy += 1

    def _leave_busy(self) -> None:
        with self._busy_lock:
            self._busy -= 1

    def _start_pollers(self) -> None:
        for consumer in self._consumers:
            consumer.thread = threading.Thread(
                target=self._poll,
                args=(consumer,),
                name=f"kizuna-local-{consumer.function.logical_id}",
                daemon=True,
            )
            consumer.thread.start()

    def _poll(self, consumer: _Consumer) -> None:
        sqs: SQSClient = self._own_client("sqs")
        fn = consumer.function
        while not self._stop.is_set():
            try:
                response = sqs.receive_message(
                    QueueUrl=consumer.queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                )
            except Exception as exc:
                if self._stop.is_set():
                    return
                logger.warning("polling %s failed: %s", consumer.queue_name, type(exc).__name__)
                time.sleep(0.5)
                continue
            if consumer.source is not None and response.get("Messages"):
                messages = response["Messages"]
                size = max(1, min(consumer.source.batch_size, 10))
                self._enter_busy()
                try:
                    # Lambda would run these batches side by side; here, one after another.
                    for start in range(0, len(messages), size):
                        self._deliver_records(sqs, consumer, messages[start : start + size])
                finally:
                    self._leave_busy()
                continue
            for message in response.get("Messages", []):
                self._enter_busy()
                try:
                    self._deliver(
                        sqs, consumer, fn, message.get("Body", ""), message["ReceiptHandle"]
                    )
                finally:
                    self._leave_busy()

    def _deliver(
        self, sqs: SQSClient, consumer: _Consumer, fn: FunctionSpec, body: str, receipt: str
    ) -> None:
        event: Any = None
        try:
            event = json.loads(body)  # moto delivers the whole EventBridge event as the body
            self._handler(fn)(event, None)
        except Exception as exc:
            event_id = event.get("id") if isinstance(event, dict) else None
            detail_type = event.get("detail-type") if isinstance(event, dict) else None
            self._failures.append(
                HandlerFailure(fn.logical_id, event_id, detail_type, type(exc).__name__, exc)
            )
            # Only ids and the exception class: the event and message may hold personal data.
            logger.warning(
                "%s failed on event %s (%s): %s; left for redelivery",
                fn.logical_id,
                event_id,
                detail_type,
                type(exc).__name__,
            )
            return
        sqs.delete_message(QueueUrl=consumer.queue_url, ReceiptHandle=receipt)
        if isinstance(event, dict) and event.get("detail-type") == "customer.erased":
            self._checkpoint_after_erasure()

    def _checkpoint_after_erasure(self) -> None:
        """A person was erased: snapshot now and cut the journal, so the state folder no
        longer keeps the requests that wrote her data (the snapshot holds the tables as
        they are after the erasure). Each service's part ends in its own delivery, so the
        last one's snapshot has none of it."""
        if self.state_dir is None:
            return
        try:
            self.checkpoint()
        except Exception as exc:
            logger.warning("snapshot after an erasure failed: %s", type(exc).__name__)

    def _deliver_records(self, sqs: SQSClient, consumer: _Consumer, messages: list[Any]) -> None:
        """One batch of an SQS event source, as Lambda hands it over: the records in,
        then every record deleted except those the handler reports back
        (`batchItemFailures`); a handler that raises leaves them all for redelivery (and,
        after `maxReceiveCount`, the queue's DLQ)."""
        fn = consumer.function
        arn = f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{consumer.queue_name}"
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m.get("Body", ""),
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": self.region,
            }
            for m in messages
        ]
        try:
            result = self._handler(fn)({"Records": records}, None)
        except Exception as exc:
            self._failures.append(
                HandlerFailure(fn.logical_id, None, consumer.source_name, type(exc).__name__, exc)
            )
            logger.warning(
                "%s failed on a batch of %s: %s; left for redelivery",
                fn.logical_id,
                consumer.queue_name,
                type(exc).__name__,
            )
            return
        failed: set[str] = set()
        if consumer.source is not None and consumer.source.report_failures:
            reported = result.get("batchItemFailures", []) if isinstance(result, dict) else []
            failed = {str(f.get("itemIdentifier")) for f in reported}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=consumer.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )

    def failures(self) -> list[HandlerFailure]:
        """The last (up to 1000) deliveries that raised since start (in memory only)."""
        return list(self._failures)

    # ------------------------------------------------------------------ schedules

    def schedules(self) -> dict[str, str]:
        """Schedule event name → its expression, e.g. `{"JourneyDispatcher": "rate(1 minute)"}`."""
        return {name: bound.spec.expression for name, bound in self._schedules.items()}

    def fire_schedule(self, name: str) -> Any:
        """Run one schedule now, synchronously, with its Input; returns the handler's result."""
        bound = self._schedules.get(name)
        if bound is None:
            raise UnknownScheduleError(name)
        self._enter_busy()
        try:
            if bound.machine is not None:
                return self.run_state_machine(bound.machine, bound.spec.input)
            assert bound.function is not None
            return self._handler(bound.function)(copy.deepcopy(bound.spec.input), None)
        finally:
            self._leave_busy()

    def run_state_machine(self, machine: StateMachineSpec, payload: Any) -> Any:
        """One execution of the template's definition on the local functions, started
        now on the stack's clock (what Step Functions runs in AWS)."""
        by_id = {fn.logical_id: fn for fn in self.functions}

        def invoke(logical_id: str, event: dict[str, Any]) -> Any:
            return self._handler(by_id[logical_id])(event, None)

        runner = StateMachineRunner(machine.definition, machine.functions, invoke)
        return runner.execute(copy.deepcopy(payload), self._clock())

    def import_orders(
        self,
        source: BinaryIO,
        fmt: str,
        shop_id: str,
        *,
        encoding: str = "utf-8-sig",
        max_errors: int = 20,
        progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """`kizuna import orders --local`, run here beside moto (`ops.importing`):
        the importer's own writes, without a socket, through the handlers' clients
        (`MotoDynamoDB`, no botocore shape walks, when moto serves this process)."""
        from ops import importing

        self._enter_busy()
        try:
            return importing.import_orders(
                source,
                fmt,
                shop_id,
                encoding=encoding,
                max_errors=max_errors,
                progress=progress,
            )
        finally:
            self._leave_busy()

    def request_counts(self) -> dict[str, int]:
        """DynamoDB calls moto served in this process since it started, by operation."""
        return moto_dynamodb.request_counts()

    def advance_clock(
        self,
        delta: timedelta,
        step: timedelta = timedelta(hours=1),
        schedules: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        """Move this process's clock forward by `delta` (`kizuna local clock advance`),
        `step` at a time, firing on the way every schedule that falls due (the journey
        dispatcher each step, the nightly jobs on their hour), so a 30-day journey runs
        in seconds with its steps at their own times. The offset lives in this process:
        a restarted stack is back on the machine's time. `schedules` limits what fires
        (the demo leaves the nightly analytics out: the journeys do not read it)."""
        clock = shared_clock.current()
        if not isinstance(clock, shared_clock.OffsetClock):
            clock = shared_clock.OffsetClock(clock)
            shared_clock.use(clock)
        fired: dict[str, int] = {}
        end = clock() + delta
        while True:
            before = clock()
            if before >= end:
                break
            clock.advance(min(step, end - before))
            now = clock()
            for name, bound in self._schedules.items():
                if schedules is not None and name not in schedules:
                    continue
                when = bound.schedule.next_after(before)
                if when is None or when > now:
                    continue
                try:
                    self.fire_schedule(name)
                except Exception as exc:
                    logger.warning("schedule %s failed: %s", name, type(exc).__name__)
                fired[name] = fired.get(name, 0) + 1
                # What the schedule fanned out (the journey shards) is worked before the
                # clock moves on, so each step runs at its own simulated time.
                self.settle_sources()
        return {"now": clock().isoformat(), "offset": str(clock.offset), "fired": fired}

    def _run_scheduler(self) -> None:
        now = self._clock()
        due: dict[str, datetime | None] = {
            name: bound.schedule.next_after(now) for name, bound in self._schedules.items()
        }
        while not self._stop.wait(0.5):
            now = self._clock()
            for name, when in list(due.items()):
                if when is None or now < when:
                    continue
                try:
                    self.fire_schedule(name)
                except Exception as exc:
                    logger.warning("schedule %s failed: %s", name, type(exc).__name__)
                due[name] = self._schedules[name].schedule.next_after(self._clock())

    # ------------------------------------------------------------------ HTTP

    def _start_http(self, sock: socket.socket) -> None:
        import uvicorn

        config = uvicorn.Config(
            self._dispatcher, log_level="warning", access_log=False, lifespan="on"
        )
        server = uvicorn.Server(config)
        self._uvicorn = server
        self._uvicorn_thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name="kizuna-local-http",
            daemon=True,
        )
        self._uvicorn_thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not self._uvicorn_thread.is_alive() or time.monotonic() > deadline:
                raise LocalStackError("the local HTTP server did not start")
            time.sleep(0.02)

    # ------------------------------------------------------------------ observation

    def _pending(self, sqs: SQSClient, consumers: list[_Consumer] | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for consumer in self._consumers if consumers is None else consumers:
            attributes = sqs.get_queue_attributes(
                QueueUrl=consumer.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            counts[consumer.queue_name] = sum(int(v) for v in attributes.values())
        return counts

    def settle_sources(self, timeout: float = 60) -> None:
        """Block until the SQS event sources' queues are empty and no handler runs. What
        fills them (the dispatcher tick's send) is synchronous, so one quiet look is
        enough (the rules' queues need two: EventBridge delivers after PutEvents)."""
        sources = [c for c in self._consumers if c.source is not None]
        if not sources or not self.started:
            return
        if self._settle_sqs is None:  # kept: a new client costs more than the look itself
            self._settle_sqs = self.client("sqs")
        sqs = self._settle_sqs
        deadline = time.monotonic() + timeout
        while True:
            with self._busy_lock:
                busy = self._busy
            pending = {k: v for k, v in self._pending(sqs, sources).items() if v}
            if not pending and busy == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"not settled after {timeout}s: {busy} running, {pending}")
            time.sleep(0.01)

    def drain(self, timeout: float = 30) -> None:
        """Block until every function queue is empty and no handler runs (twice in a row)."""
        sqs: SQSClient = self._own_client("sqs")
        deadline = time.monotonic() + timeout
        quiet = 0
        pending: dict[str, int] = {}
        while True:
            with self._busy_lock:
                busy = self._busy
            pending = self._pending(sqs)
            if busy == 0 and not any(pending.values()):
                quiet += 1
                if quiet >= 2:
                    return
            else:
                quiet = 0
            if time.monotonic() > deadline:
                waiting = {k: v for k, v in pending.items() if v}
                raise TimeoutError(f"not drained after {timeout}s: {busy} running, {waiting}")
            time.sleep(0.1)

    def dead_letters(self) -> list[DeadLetter]:
        """Messages in the DLQ, left in place (peeked, then made visible again)."""
        name = self.dead_letter_queue_name
        if name is None:
            return []
        sqs: SQSClient = self.client("sqs")
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        seen: dict[str, DeadLetter] = {}
        receipts: list[str] = []
        for _ in range(1000):
            batch = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                receipts.append(message["ReceiptHandle"])
                body = message.get("Body", "")
                try:
                    event: Any = json.loads(body)
                except json.JSONDecodeError:
                    event = body
                seen[message["MessageId"]] = DeadLetter(
                    message_id=message["MessageId"], event=event
                )
        for start in range(0, len(receipts), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                    for i, r in enumerate(receipts[start : start + 10])
                ],
            )
        return list(seen.values())

    def sandbox_messages(self) -> list[SandboxMessage]:
        """Every message that would have been sent: mail (SES), SMS (SNS), LINE (JSONL file)."""
        archived = persistence.read_archive(self._state_file(persistence.ARCHIVE_FILE))
        seen = {m["id"] for m in archived}
        live = [m for m in [*moto_mail_messages(), *moto_sms_messages()] if m["id"] not in seen]
        return [
            *archived,
            *live,
            *line_messages(self.line_sandbox_path if self.started else None),
        ]
