"""The LINE channel against a fake LINE server over real HTTP: retry key, backoff, 409."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from messenger.channels.base import OutboundMessage, SendStatus
from messenger.channels.line import LineChannel, retry_key
from tests.messenger.line_server import BAD_CONTENT, INVALID_TO, FakeLine, fake_line_server

USER = "U" + "0123456789abcdef" * 2


@pytest.fixture
def line_server() -> Iterator[FakeLine]:
    with fake_line_server() as server:
        yield server


def _channel(server: FakeLine, sleeps: list[float] | None = None) -> LineChannel:
    waits = sleeps if sleeps is not None else []
    return LineChannel("secret-token", base_url=server.base_url, base_delay=0.5, sleep=waits.append)


def _push(channel: LineChannel, delivery_id: str = "d-1") -> SendStatus:
    return channel.send(OutboundMessage(delivery_id=delivery_id, to=USER, text="こんにちは")).status


def test_push_carries_token_retry_key_and_text(line_server: FakeLine) -> None:
    assert _push(_channel(line_server)) is SendStatus.SENT
    [request] = line_server.received
    assert request.path == "/v2/bot/message/push"
    assert request.headers["Authorization"] == "Bearer secret-token"
    assert request.headers["X-Line-Retry-Key"] == retry_key("d-1")
    assert request.body == {"to": USER, "messages": [{"type": "text", "text": "こんにちは"}]}


def test_429_and_5xx_are_retried_with_backoff_and_the_same_key(line_server: FakeLine) -> None:
    # Given LINE throttles once and fails once
    line_server.answer_next(429, 500)
    sleeps: list[float] = []
    # When one message is pushed
    status = _push(_channel(line_server, sleeps))
    # Then it is sent on the third request, every request with the same retry key
    assert status is SendStatus.SENT
    assert [r.headers["X-Line-Retry-Key"] for r in line_server.received] == [retry_key("d-1")] * 3
    assert len(sleeps) == 2 and sleeps[1] >= 0.5  # Retry-After: 0, then exponential


def test_409_on_a_retry_counts_as_already_sent(line_server: FakeLine) -> None:
    # Given LINE accepted the first request but the answer was lost (a 500 to us)
    first = _channel(line_server)
    assert _push(first) is SendStatus.SENT
    # When a Lambda retry pushes the same delivery again
    result = first.send(OutboundMessage(delivery_id="d-1", to=USER, text="こんにちは"))
    # Then LINE's 409 for the reused retry key means it went out once
    assert result.status is SendStatus.SENT
    assert result.provider_message_id == "req-accepted"


def test_retries_run_out_as_retryable(line_server: FakeLine) -> None:
    line_server.answer_next(500, 500, 500, 500)
    assert _push(_channel(line_server)) is SendStatus.RETRYABLE
    assert len(line_server.received) == 4


def test_400_about_to_is_an_unknown_user_and_other_400s_are_the_content(
    line_server: FakeLine,
) -> None:
    # Given LINE refuses a push for its `to` (a user id it does not know)
    line_server.answer_next(INVALID_TO)
    unknown = _channel(line_server).send(OutboundMessage(delivery_id="d-1", to=USER, text="x"))
    # Then the person cannot be reached on LINE
    assert (unknown.status, unknown.error) == (SendStatus.HARD_FAILED, "http_400:to")
    # Given LINE refuses a push for its content (a malformed or too long message)
    line_server.answer_next(BAD_CONTENT)
    content = _channel(line_server).send(OutboundMessage(delivery_id="d-2", to=USER, text="x"))
    # Then the message is rejected, naming where, and nothing says the person is gone
    assert (content.status, content.error) == (SendStatus.REJECTED, "http_400:messages[0].text")
    # And neither is retried
    assert len(line_server.received) == 2


def test_multicast_sends_one_request_for_many_users(line_server: FakeLine) -> None:
    users = [f"U{i:032x}" for i in range(3)]
    result = _channel(line_server).multicast("c-1", users, [{"type": "text", "text": "sale"}])
    assert result.status is SendStatus.SENT
    [request] = line_server.received
    assert request.path == "/v2/bot/message/multicast"
    assert request.body["to"] == users


def test_sandbox_records_instead_of_calling_line(tmp_path: Path, line_server: FakeLine) -> None:
    sandbox = tmp_path / "line.jsonl"
    channel = LineChannel("t", base_url=line_server.base_url, sandbox_file=sandbox)
    assert channel.sandbox
    assert _push(channel) is SendStatus.SENT
    assert line_server.received == []
    [entry] = [json.loads(line) for line in sandbox.read_text().splitlines()]
    assert entry["to"] == USER and entry["body"] == "こんにちは"
    assert entry["raw"]["request"]["messages"][0]["type"] == "text"


def test_a_body_line_would_refuse_is_rejected_as_content_without_a_request(
    line_server: FakeLine,
) -> None:
    # Given a flex message whose text weight LINE's spec does not know
    flex = {
        "type": "flex",
        "altText": "セール",
        "contents": {
            "type": "bubble",
            "body": {
                "type": "box",
                "layout": "vertical",
                "contents": [{"type": "text", "text": "山田様", "weight": "heavy"}],
            },
        },
    }
    message = OutboundMessage(delivery_id="d-1", to=USER, text="セール", line_messages=(flex,))
    # When it is pushed, or multicast
    pushed = _channel(line_server).send(message)
    multicast = _channel(line_server).multicast("c-1", [USER], [flex])
    # Then both are refused as content, naming where, and LINE never got a request
    expected = "line_spec:messages.0.contents.body.contents.0.weight"
    assert (pushed.status, pushed.error) == (SendStatus.REJECTED, expected)
    assert (multicast.status, multicast.error) == (SendStatus.REJECTED, expected)
    assert line_server.received == []
