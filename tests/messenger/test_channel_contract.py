"""One contract, run over every channel: declared capabilities and a typed send()
(mail over moto SES, SMS over moto SNS, LINE over real HTTP to a fake LINE server)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config

from messenger.channels.base import Addressing, Channel, OutboundMessage, SendStatus
from messenger.channels.email import EmailChannel
from messenger.channels.kinds import KINDS, kind
from messenger.channels.line import LineChannel
from messenger.channels.sms import SmsChannel
from messenger.domain.rendering import Rendered, RenderedEmail, RenderedLine, RenderedSms
from messenger.domain.sms import sms_length
from tests.conftest import REGION, SENDER, Cloud
from tests.messenger.line_server import FakeLine, fake_line_server

LINE_USER = "U" + "0123456789abcdef" * 2


@pytest.fixture
def line_server() -> Iterator[FakeLine]:
    with fake_line_server() as server:
        yield server


ChannelFactory = Callable[[FakeLine], Channel]


def _email(_: FakeLine) -> Channel:
    return EmailChannel(boto3.client("sesv2", region_name=REGION), SENDER, "Kizuna Demo Shop")


def _line(server: FakeLine) -> Channel:
    return LineChannel("token", base_url=server.base_url, base_delay=0.01, sleep=lambda _: None)


def _sms(_: FakeLine) -> Channel:
    return SmsChannel(boto3.client("sns", region_name=REGION))


CHANNELS: dict[str, tuple[ChannelFactory, str, str]] = {
    # name: (factory, a good address, a malformed address)
    "email": (_email, "hanako@example.jp", "not-an-address"),
    "line": (_line, LINE_USER, "hanako"),
    "sms": (_sms, "090-1234-5678", "12"),
}


def _message(to: str, delivery_id: str = "d-1") -> OutboundMessage:
    return OutboundMessage(
        delivery_id=delivery_id,
        to=to,
        subject="件名",
        text="本文",
        html="<p>本文</p>",
        unsubscribe_url="https://k.test/u/x",
    )


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_channel_declares_capabilities(name: str, cloud: Cloud, line_server: FakeLine) -> None:
    channel = CHANNELS[name][0](line_server)
    assert channel.name == name
    assert isinstance(channel.supports_html, bool)
    assert isinstance(channel.supports_subject, bool)
    assert isinstance(channel.supports_idempotency_key, bool)
    assert isinstance(channel.sandbox, bool)


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_send_returns_sent_with_provider_id(name: str, cloud: Cloud, line_server: FakeLine) -> None:
    factory, address, _ = CHANNELS[name]
    result = factory(line_server).send(_message(address))
    assert result.status is SendStatus.SENT
    assert result.provider_message_id


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_malformed_address_is_a_typed_hard_failure(
    name: str, cloud: Cloud, line_server: FakeLine
) -> None:
    factory, _, bad = CHANNELS[name]
    result = factory(line_server).send(_message(bad, "d-2"))
    assert result.status is SendStatus.HARD_FAILED
    assert result.error


def test_mail_refused_by_the_provider_is_rejected_not_the_person(cloud: Cloud) -> None:
    # Given SES refuses the shop's sender (MessageRejected: the setup, not the recipient)
    channel = EmailChannel(
        boto3.client("sesv2", region_name=REGION), "unverified@example.org", "Shop"
    )
    result = channel.send(_message("hanako@example.jp"))
    # Then it is a rejection of this message, which never marks the person unreachable
    assert result.status is SendStatus.REJECTED
    assert result.error == "MessageRejected"


def _closed_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _unreachable(name: str, endpoint: str) -> Channel:
    if name == "line":
        return LineChannel("t", base_url=endpoint, max_attempts=1, sleep=lambda _: None)
    config = Config(retries={"max_attempts": 1}, connect_timeout=2)
    if name == "email":
        ses = boto3.client("sesv2", region_name=REGION, endpoint_url=endpoint, config=config)
        return EmailChannel(ses, SENDER, "Kizuna Demo Shop")
    return SmsChannel(boto3.client("sns", region_name=REGION, endpoint_url=endpoint, config=config))


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_no_connection_to_the_provider_is_retryable_not_an_exception(
    name: str, aws_credentials: None
) -> None:
    # Given nothing listens where the provider should be (a network failure)
    channel = _unreachable(name, _closed_endpoint())
    # When a message is sent
    result = channel.send(_message(CHANNELS[name][1]))
    # Then the channel answers "retry later" instead of raising into the batch
    assert result.status is SendStatus.RETRYABLE
    assert result.error in ("EndpointConnectionError", "ConnectError")


def test_sms_goes_to_sns_in_e164_with_its_type(cloud: Cloud) -> None:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    # When a Japanese national number is sent to
    SmsChannel(boto3.client("sns", region_name=REGION)).send(_message("090-1234-5678"))
    # Then SNS got it in E.164
    sent = list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())
    assert sent == [("+819012345678", "本文")]


def _rendering(name: str) -> Rendered:
    if name == "email":
        return RenderedEmail(subject="件名", html="<p>本文</p>", text="本文")
    if name == "line":
        return RenderedLine(text="本文")
    return RenderedSms(text="本文", length=sms_length("本文"))


def test_every_channel_in_the_registry_is_under_contract() -> None:
    # Adding a channel is its module, its line in `kinds`, and its row here
    assert sorted(KINDS) == sorted(CHANNELS)


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_channel_says_what_is_an_address_on_it(
    name: str, cloud: Cloud, line_server: FakeLine
) -> None:
    factory, good, bad = CHANNELS[name]
    channel = factory(line_server)
    assert kind(name) is type(channel)
    assert channel.address_problem(good) is None
    assert channel.address_problem(bad)
    assert channel.canonical_address(f"  {good} ") == channel.canonical_address(good)


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_channel_builds_the_payload_its_capabilities_declare(
    name: str, cloud: Cloud, line_server: FakeLine
) -> None:
    factory, address, _ = CHANNELS[name]
    channel = factory(line_server)
    # When the channel builds the payload of its own rendering
    payload = channel.outbound(_rendering(name), Addressing("d-3", address, "transactional"))
    # Then it carries a subject and HTML exactly where the channel says it supports them
    assert (payload.subject is not None) is channel.supports_subject
    assert (payload.html is not None) is channel.supports_html
    assert channel.max_text_length is None or len(payload.text) <= channel.max_text_length
    # And the provider takes it
    assert channel.send(payload).status is SendStatus.SENT


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_channel_reaches_as_many_people_in_one_call_as_it_declares(
    name: str, cloud: Cloud, line_server: FakeLine
) -> None:
    factory, address, _ = CHANNELS[name]
    channel = factory(line_server)
    payload = channel.outbound(_rendering(name), Addressing("d-4", "", "marketing"))
    if channel.max_recipients > 1:
        # Equal content has an equal key: one call may carry it to several people
        other = channel.outbound(_rendering(name), Addressing("d-5", address, "marketing"))
        assert channel.content_key(payload) == channel.content_key(other)
        assert channel.send_many("g-1", [address, address], payload).status is SendStatus.SENT
    else:
        with pytest.raises(NotImplementedError):
            channel.send_many("g-1", [address, address], payload)


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_only_a_channel_with_bounces_suppresses_addresses(
    name: str, cloud: Cloud, line_server: FakeLine
) -> None:
    channel = CHANNELS[name][0](line_server)
    # SES reports bounces and complaints; LINE and SNS SMS have no suppression list here
    assert channel.suppressible is (name == "email")


@contextmanager
def _provider_answering(fault: str, xml: bool) -> Iterator[str]:
    """A provider endpoint that answers every request with the fault: 429 (throttled),
    503 (also for `garbage`), or nothing within the client's read timeout; its error body
    as the provider writes one (SNS: XML, SES v2 and LINE: JSON) when `xml` says so."""

    class Answer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if fault == "timeout":
                time.sleep(1.5)
                return
            status = 429 if fault == "429" else 503
            code = "Throttling" if fault == "429" else "ServiceUnavailable"
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>slow down</Message></Error></ErrorResponse>"
                if xml
                else f'{{"__type": "{code}", "message": "slow down"}}'
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml" if xml else "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _slow_to_answer(name: str, endpoint: str) -> Channel:
    if name == "line":
        return LineChannel(
            "t", base_url=endpoint, max_attempts=1, timeout=0.5, sleep=lambda _: None
        )
    config = Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=0.5)
    if name == "email":
        ses = boto3.client("sesv2", region_name=REGION, endpoint_url=endpoint, config=config)
        return EmailChannel(ses, SENDER, "Kizuna Demo Shop")
    return SmsChannel(boto3.client("sns", region_name=REGION, endpoint_url=endpoint, config=config))


@pytest.mark.parametrize("fault", ["429", "5xx", "timeout", "garbage"])
@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_a_throttled_failing_or_silent_provider_is_retryable_on_every_channel(
    name: str, fault: str, aws_credentials: None
) -> None:
    """Given the channel's provider answers 429, 503, not within the timeout, or with a
    body that is not the provider's (a proxy's page: JSON where SNS speaks XML)
    When a message is sent
    Then the channel answers "retry later" (the due queue tries again with backoff), never
    a rejection of the message or the person, and never an exception into the batch."""
    as_provider = name == "sms" and fault != "garbage"  # garbage: JSON to an XML client
    with _provider_answering(fault, xml=as_provider) as endpoint:
        result = _slow_to_answer(name, endpoint).send(_message(CHANNELS[name][1]))
    assert result.status is SendStatus.RETRYABLE, (result.status, result.error)
