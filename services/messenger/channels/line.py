"""LINE Messaging API over httpx: push and multicast.

Every request carries `X-Line-Retry-Key`, a UUID derived from the delivery id, so it is
the same on every retry (in-process backoff, a Lambda retry, the dead-letter redrive).
LINE answers 409 when a request with that key was already accepted: that counts as
sent. A 400 about the `to` property means the user id is unknown (the person cannot be
reached on LINE); any other 400 is the message's content (rejected: the person stays
reachable). 429 and 5xx are retried with exponential backoff (honouring `Retry-After`),
reusing the key. In sandbox mode nothing goes to the network: the request is appended
to the local sandbox file instead.

Every body is checked against LINE's Messaging API spec before it is sent (the schemas
of `line_schema.json`, generated from the official OpenAPI file; `make line-schema`): a
body LINE would refuse is rejected here as content, without a request, so it is never
sent and never looks like the person. The same check runs on a message's templates when
it is saved (`check_content`), naming the field (`line.flex.body.contents.0.weight`).
jsonschema is imported on the first check only (cold start).
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from messenger.channels.base import Addressing, Channel, OutboundMessage, SendResult, SendStatus
from messenger.domain.message import LineContent
from messenger.domain.rendering import Rendered, RenderedLine
from messenger.domain.tracking import (
    LINE_POSTBACK_MAX,
    instrument_line,
    postback_room,
    signed_postback_length,
)
from shared.errors import InvalidInput
from shared.log import get_logger

if TYPE_CHECKING:
    import httpx


DEFAULT_BASE_URL = "https://api.line.me"
PUSH_PATH = "/v2/bot/message/push"
MULTICAST_PATH = "/v2/bot/message/multicast"
MAX_MULTICAST = 500
_RETRY_NAMESPACE = uuid.UUID("6f1d7d2e-5f5c-4c1e-9d6e-4b697a756e61")
_HARD_STATUSES = frozenset({404, 410})
_log = get_logger("kizuna.messenger.line")


SCHEMA_FILE = Path(__file__).with_name("line_schema.json")
QUICK_REPLY_ACTIONS = (
    "postback",
    "message",
    "uri",
    "datetimepicker",
    "camera",
    "cameraRoll",
    "location",
    "clipboard",
)
"""The actions LINE allows in a quick reply item."""
_TEMPLATE_MARKS = ("{{", "{%")
_VALUE_KEYWORDS = frozenset({"enum", "maxLength", "minLength", "pattern", "const"})
"""What a template string may satisfy only once it is rendered (checked then)."""

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Violation:
    """One place where a body breaks LINE's spec (no value in `message`: at send time the
    value may be a person's name)."""

    path: JsonPath
    message: str
    keyword: str
    value: Any


@functools.cache
def _validator(definition: str) -> Any:
    import jsonschema  # only where LINE bodies are checked: a LINE send or a saved message

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    root = {**schema, "allOf": [{"$ref": f"#/definitions/{definition}"}]}
    return jsonschema.Draft7Validator(root)


def _described(keyword: str, expected: Any, value: Any) -> str:
    if keyword == "enum":
        return "must be one of " + ", ".join(str(v) for v in expected)
    if keyword == "required":
        return "is required"
    if keyword == "maxLength":
        size = len(value) if isinstance(value, str) else "?"
        return f"has at most {expected} characters in LINE (this has {size})"
    if keyword == "minLength":
        return f"needs at least {expected} characters"
    if keyword == "maxItems":
        return f"has at most {expected} items"
    if keyword == "minItems":
        return f"needs at least {expected} items"
    if keyword == "type":
        return f"must be of type {expected}"
    return f"breaks the rule {keyword}: {expected}"


def spec_violations(instance: Any, definition: str) -> list[Violation]:
    """Where `instance` breaks the spec's `definition` (a `Message`, `PushMessageRequest`
    or `MulticastRequest`), and quick reply actions LINE does not allow there."""
    found: list[Violation] = []
    for err in _validator(definition).iter_errors(instance):
        path: JsonPath = tuple(err.absolute_path)
        keyword = str(err.validator)
        if keyword == "required" and isinstance(err.instance, Mapping):
            missing = [p for p in err.validator_value if p not in err.instance]
            path = (*path, *missing[:1])
        found.append(
            Violation(
                path, _described(keyword, err.validator_value, err.instance), keyword, err.instance
            )
        )
    if definition == "Message":
        found.extend(_quick_reply_violations(instance, ()))
        return found
    messages = instance.get("messages") if isinstance(instance, Mapping) else None
    for i, message in enumerate(messages if isinstance(messages, list) else []):
        found.extend(_quick_reply_violations(message, ("messages", i)))
    return found


def _quick_reply_violations(message: Any, at: JsonPath) -> Iterator[Violation]:
    quick = message.get("quickReply") if isinstance(message, Mapping) else None
    items = quick.get("items") if isinstance(quick, Mapping) else None
    for i, item in enumerate(items if isinstance(items, list) else []):
        where: JsonPath = (*at, "quickReply", "items", i)
        action = item.get("action") if isinstance(item, Mapping) else None
        if not isinstance(action, Mapping):
            yield Violation((*where, "action"), "is required", "required", None)
        elif action.get("type") not in QUICK_REPLY_ACTIONS:
            yield Violation(
                (*where, "action", "type"),
                "must be one of the quick reply actions " + ", ".join(QUICK_REPLY_ACTIONS),
                "enum",
                action.get("type"),
            )


def dotted(path: JsonPath) -> str:
    return ".".join(str(p) for p in path)


def _content_field(path: JsonPath) -> str:
    """A path in the message object → the field of `LineContent` it came from."""
    head, rest = (path[0], path[1:]) if path else ("", ())
    if head == "contents":
        return dotted(("line", "flex", *rest))
    if head == "altText":
        return "line.alt_text"
    if head == "text":
        return "line.text"
    if head == "quickReply":
        return dotted(("line", "quick_reply", *rest[1:]))
    return "line"


def _postbacks(value: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, str]]:
    if isinstance(value, Mapping):
        if value.get("type") == "postback" and isinstance(value.get("data"), str):
            yield (*path, "data"), value["data"]
        for key, item in value.items():
            yield from _postbacks(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _postbacks(item, (*path, i))


def check_content(content: LineContent, shop_id: str) -> None:
    """A message's LINE content as it is saved: the message object its templates make
    must be valid against LINE's spec, and each postback's data must fit LINE's 300
    characters once signed for tracking. Raises InvalidInput naming the field (a value
    that is itself a template is checked once rendered, before it is sent)."""
    [message] = RenderedLine(
        text=content.text,
        flex=content.flex,
        alt_text=content.alt_text,
        quick_reply=content.quick_reply,
    ).line_messages()
    found = [
        v
        for v in spec_violations(message, "Message")
        if not (
            v.keyword in _VALUE_KEYWORDS
            and isinstance(v.value, str)
            and any(mark in v.value for mark in _TEMPLATE_MARKS)
        )
    ]
    if found:
        first = found[0]
        field = _content_field(first.path)
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InvalidInput(
            f"{field} {first.message}, per LINE's Messaging API spec{more}", field=field
        )
    for path, data in _postbacks(message):
        signed = signed_postback_length(shop_id, data)
        if signed > LINE_POSTBACK_MAX:
            field = _content_field(path)
            raise InvalidInput(
                f"{field} is signed for tracking and comes to {signed} characters, over "
                f"LINE's {LINE_POSTBACK_MAX}: about {postback_room(shop_id)} characters "
                "(ASCII) are left for postback data after signing",
                field=field,
            )


def retry_key(delivery_id: str) -> str:
    """The `X-Line-Retry-Key` for a delivery: a UUID, stable across every retry."""
    return str(uuid.uuid5(_RETRY_NAMESPACE, delivery_id))


def line_messages_of(message: OutboundMessage) -> list[dict[str, Any]]:
    if message.line_messages:
        return [dict(m) for m in message.line_messages]
    return [{"type": "text", "text": message.text}]


def push_body(message: OutboundMessage) -> dict[str, Any]:
    return {"to": message.to, "messages": line_messages_of(message)}


def multicast_body(to: Sequence[str], messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"to": list(to), "messages": [dict(m) for m in messages]}


class LineChannel(Channel):
    name = "line"
    supports_html = False
    supports_subject = False
    max_text_length = 5000
    supports_idempotency_key = True
    max_recipients = MAX_MULTICAST
    connect_hint = " (connect one: PUT /v1/messenger/line-channel)"

    @classmethod
    def address_problem(cls, to: str) -> str | None:
        if to.startswith("U") and len(to) == 33:
            return None
        return "not a LINE user id (U followed by 32 hex digits)"

    @classmethod
    def outbound(cls, rendered: Rendered, to: Addressing) -> OutboundMessage:
        assert isinstance(rendered, RenderedLine)
        messages = rendered.line_messages()
        if to.tracking is not None:
            messages = instrument_line(messages, to.tracking.urls.secret, to.tracking.postback)
        return OutboundMessage(
            delivery_id=to.delivery_id,
            to=to.to,
            text=rendered.preview_text,
            line_messages=tuple(messages),
            unsubscribe_url=to.unsubscribe_url,
            category=to.category,
        )

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        sandbox_file: Path | None = None,
        max_attempts: int = 4,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        client: httpx.Client | None = None,
    ) -> None:
        self._token = access_token
        self._base_url = base_url.rstrip("/")
        self._sandbox_file = sandbox_file
        self.sandbox = sandbox_file is not None
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._timeout = timeout
        self._sleep = sleep
        self._client = client

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            self._client = httpx.Client(base_url=self._base_url, timeout=self._timeout)
        return self._client

    def send(self, message: OutboundMessage) -> SendResult:
        """Push one message to one user."""
        if not message.to.startswith("U"):
            return SendResult(SendStatus.HARD_FAILED, error="invalid_line_user_id")
        return self._post(PUSH_PATH, push_body(message), retry_key(message.delivery_id))

    def multicast(
        self, delivery_id: str, to: Sequence[str], messages: Sequence[Mapping[str, Any]]
    ) -> SendResult:
        """The same messages to up to 500 users in one request (campaigns)."""
        if not 1 <= len(to) <= MAX_MULTICAST:
            return SendResult(SendStatus.HARD_FAILED, error="multicast_needs_1_to_500_users")
        return self._post(MULTICAST_PATH, multicast_body(to, messages), retry_key(delivery_id))

    def send_many(self, group_id: str, to: Sequence[str], message: OutboundMessage) -> SendResult:
        return self.multicast(group_id, to, line_messages_of(message))

    def _record(self, path: str, body: dict[str, Any], key: str) -> SendResult:
        from shared.adapters.line_sandbox import record_line_message

        assert self._sandbox_file is not None
        to = body["to"] if isinstance(body["to"], str) else ",".join(body["to"])
        first = body["messages"][0]
        text = str(first.get("text") or first.get("altText") or "")
        raw = {"path": path, "retry_key": key, "request": body}
        record_line_message(self._sandbox_file, to, text, raw)
        return SendResult(SendStatus.SENT, provider_message_id=f"sandbox-{key}")

    def _post(self, path: str, body: dict[str, Any], key: str) -> SendResult:
        definition = "PushMessageRequest" if path == PUSH_PATH else "MulticastRequest"
        invalid = spec_violations(body, definition)
        if invalid:
            # What LINE would answer with a 400 for the content: not sent, not the person.
            where = dotted(invalid[0].path)
            _log.info("line body refused before sending", extra={"where": where})
            return SendResult(SendStatus.REJECTED, error=f"line_spec:{where}"[:120])
        if self._sandbox_file is not None:
            return self._record(path, body, key)
        import httpx

        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
            "X-Line-Retry-Key": key,
        }
        error = "unknown"
        for attempt in range(1, self._max_attempts + 1):
            delay = self._base_delay * 2 ** (attempt - 1)
            try:
                response = self._http().post(path, json=body, headers=headers)
            except httpx.HTTPError as err:
                error = type(err).__name__
            else:
                status = response.status_code
                if status == 200:
                    return SendResult(SendStatus.SENT, provider_message_id=_message_id(response))
                if status == 409:
                    # A request with this retry key was already accepted: it went out.
                    accepted = response.headers.get("x-line-accepted-request-id")
                    return SendResult(SendStatus.SENT, provider_message_id=accepted or key)
                error = f"http_{status}"
                if status == 400:
                    return _bad_request(response)
                if status in _HARD_STATUSES:
                    return SendResult(SendStatus.HARD_FAILED, error=error)
                if status != 429 and status < 500:
                    # 401/403: the channel's token or plan, not the person; retry later.
                    return SendResult(SendStatus.RETRYABLE, error=error)
                delay = _retry_after(response, delay)
            if attempt < self._max_attempts:
                _log.info("line retry", extra={"attempt": attempt, "error": error})
                self._sleep(min(delay, self._max_delay))
        return SendResult(SendStatus.RETRYABLE, error=error)


def _bad_request(response: httpx.Response) -> SendResult:
    """LINE answers 400 both for a body it cannot accept and for a user id it does not
    know; only an error about the `to` property means the person cannot be reached.
    (A user who blocked the account still gets 200: LINE drops the message silently.)"""
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    details = [d for d in body.get("details") or [] if isinstance(d, dict)]
    properties = [str(d.get("property") or "") for d in details]
    message = str(body.get("message") or "")
    if any(p == "to" or p.startswith(("to[", "to.")) for p in properties) or "'to'" in message:
        return SendResult(SendStatus.HARD_FAILED, error="http_400:to")
    where = next((p for p in properties if p), "body")[:80]
    return SendResult(SendStatus.REJECTED, error=f"http_400:{where}")


def _message_id(response: httpx.Response) -> str | None:
    try:
        sent = response.json().get("sentMessages") or []
    except ValueError:
        sent = []
    if sent and isinstance(sent[0], dict) and sent[0].get("id"):
        return str(sent[0]["id"])
    request_id = response.headers.get("x-line-request-id")
    return str(request_id) if request_id else None


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else default
