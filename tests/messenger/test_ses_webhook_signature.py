"""SNS message signatures on the SES webhook, over real HTTP end to end.

`FakeSns` plays Amazon SNS: it holds an RSA signing key whose self-signed certificate a
local HTTPS server (stdlib http.server, TLS with a test CA) serves like
`sns.<region>.amazonaws.com` does, and it signs messages the way AWS documents, written
here independently of the code under test. The verifier under test fetches the
certificate over that real HTTPS connection and checks the RSA signature for real."""

from __future__ import annotations

import base64
import json
import re
import ssl
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi.testclient import TestClient
from pydantic import SecretStr

from messenger import bootstrap
from messenger.adapters.sns_certificates import (
    CertificateFetcher,
    HttpCertificateFetcher,
    SnsSignatureVerifier,
)
from messenger.entrypoints import api as messenger_api
from messenger.services.ports import SubscriptionConfirmer
from tests.conftest import Cloud

TOPIC = "arn:aws:sns:ap-northeast-1:123456789012:ses-events"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
CERT_PATH = "/SimpleNotificationService-0123456789abcdef.pem"
DOWN_PATH = "/SimpleNotificationService-down.pem"

# What AWS documents as the signed fields, in order ("Subject" only when present).
_SIGNED = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": [
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ],
}


def _certificate(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: x509.Certificate | None = None,
    issuer_key: rsa.RSAPrivateKey | None = None,
    *,
    ca: bool = False,
    ip: str | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Valid whatever the date: TLS checks it against the machine's clock, which a test
        # (or `make test-future`) may have moved.
        .not_valid_before(datetime(2000, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2099, 12, 31, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key((issuer_key or key).public_key()),
            False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(ip))]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class _Keys:
    signing_key: rsa.RSAPrivateKey
    signing_cert_pem: bytes
    ca_pem: bytes
    tls_cert_pem: bytes
    tls_key_pem: bytes


@cache
def _keys() -> _Keys:
    """Generated once per run: SNS's signing key and certificate, and a CA plus a server
    certificate for 127.0.0.1 so the certificate travels over real TLS."""
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tls_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _certificate("Kizuna test CA", ca_key, ca=True)
    return _Keys(
        signing_key=signing_key,
        signing_cert_pem=_pem(_certificate("sns.amazonaws.com", signing_key)),
        ca_pem=_pem(ca),
        tls_cert_pem=_pem(_certificate("127.0.0.1", tls_key, ca, ca_key, ip="127.0.0.1")),
        tls_key_pem=tls_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@dataclass
class FakeSns:
    """Amazon SNS for a test: signs messages and serves its certificate over HTTPS."""

    host: str = ""
    fetched: list[str] = field(default_factory=list)

    def cert_url(self, path: str = CERT_PATH, host: str | None = None) -> str:
        return f"https://{host or self.host}{path}"

    def verifier(self) -> SnsSignatureVerifier:
        """The production verifier, trusting this server's host and TLS certificate."""
        tls = ssl.create_default_context(cadata=_keys().ca_pem.decode())
        return SnsSignatureVerifier(
            HttpCertificateFetcher(verify=tls), trusted_hosts=re.compile(re.escape(self.host))
        )

    def sign(
        self,
        message: dict[str, Any],
        *,
        version: str = "1",
        cert_url: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> dict[str, Any]:
        """The message as SNS would post it: SignatureVersion, SigningCertURL, Signature."""
        canonical = "".join(
            f"{name}\n{message[name]}\n" for name in _SIGNED[message["Type"]] if name in message
        ).encode()
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = (key or _keys().signing_key).sign(canonical, padding.PKCS1v15(), digest)
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": cert_url or self.cert_url(),
        }

    def notification(
        self,
        ses_event: dict[str, Any],
        *,
        topic: str = TOPIC,
        at: datetime = NOW,
        subject: str | None = None,
        version: str = "1",
        cert_url: str | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic,
            "Message": json.dumps(ses_event),
            "Timestamp": _sns_time(at),
            "UnsubscribeURL": "https://sns.ap-northeast-1.amazonaws.com/?Action=Unsubscribe",
        }
        if subject is not None:
            message["Subject"] = subject
        return self.sign(message, version=version, cert_url=cert_url)

    def subscription_confirmation(
        self, token: str, *, topic: str = TOPIC, at: datetime = NOW
    ) -> dict[str, Any]:
        return self.sign(
            {
                "Type": "SubscriptionConfirmation",
                "MessageId": "confirm-1",
                "Token": token,
                "TopicArn": topic,
                "Message": f"You have chosen to subscribe to the topic {topic}.",
                "SubscribeURL": "https://sns.ap-northeast-1.amazonaws.com/?Action=ConfirmSubscription",
                "Timestamp": _sns_time(at),
            }
        )


def _sns_time(at: datetime) -> str:
    """SNS's format: 2026-11-23T03:00:00.000Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


@contextmanager
def fake_sns_server() -> Iterator[FakeSns]:
    """Serves the signing certificate at CERT_PATH over HTTPS on 127.0.0.1; DOWN_PATH
    answers 503 (SNS's host failing), any other path 404."""
    keys = _keys()
    state = FakeSns()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_GET(self) -> None:
            with lock:
                state.fetched.append(self.path)
            found = self.path == CERT_PATH
            self.send_response(200 if found else 503 if self.path == DOWN_PATH else 404)
            self.send_header("Content-Type", "application/x-x509-ca-cert")
            self.end_headers()
            self.wfile.write(keys.signing_cert_pem if found else b"not found")

    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder, "tls.pem"), Path(folder, "tls.key")
        cert_file.write_bytes(keys.tls_cert_pem)
        key_file.write_bytes(keys.tls_key_pem)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert_file, key_file)
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    state.host = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class RecordingConfirmer(SubscriptionConfirmer):
    def __init__(self) -> None:
        self.confirmed: list[tuple[str, str]] = []

    def confirm(self, topic_arn: str, token: str) -> None:
        self.confirmed.append((topic_arn, token))


class RecordingFetcher(CertificateFetcher):
    def __init__(self) -> None:
        self.fetched: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return _keys().signing_cert_pem


class Webhook:
    """The messenger API with our SES topic and token configured, on moto."""

    def __init__(self, sns: FakeSns) -> None:
        self.sns = sns
        built = bootstrap.build()
        self.confirmer = RecordingConfirmer()
        self.container = built.replaced(
            settings=built.adapters.settings.model_copy(
                update={
                    "ses_notification_token": SecretStr("sns-token"),
                    "ses_notification_topic_arns": TOPIC,
                }
            ),
            clock=lambda: NOW,
            confirmer=self.confirmer,
            sns_signatures=sns.verifier(),
        )
        messenger_api.app.state.container = self.container
        self.http = TestClient(messenger_api.app)

    def use(self, **adapters: Any) -> None:
        """Put fakes in place of some adapters: the messenger is wired again with them."""
        self.container = self.container.replaced(**adapters)
        messenger_api.app.state.container = self.container

    def post(self, message: dict[str, Any]) -> Any:
        return self.http.post("/v1/webhooks/ses?token=sns-token", content=json.dumps(message))

    def suppressed(self, address: str) -> bool:
        return self.container.adapters.deliveries.is_suppressed("email", address)


@pytest.fixture
def webhook(cloud: Cloud) -> Iterator[Webhook]:
    with fake_sns_server() as sns:
        yield Webhook(sns)


def _bounce(address: str, kind: str = "Permanent") -> dict[str, Any]:
    return {
        "eventType": "Bounce",
        "bounce": {"bounceType": kind, "bouncedRecipients": [{"emailAddress": address}]},
        "mail": {"messageId": "ses-1"},
    }


@pytest.mark.parametrize(("version", "subject"), [("1", None), ("2", "Amazon SES Bounce")])
def test_a_signed_permanent_bounce_suppresses_the_address(
    webhook: Webhook, version: str, subject: str | None
) -> None:
    # Given a permanent bounce that SNS signed (SHA1withRSA for v1, SHA256withRSA for v2)
    note = webhook.sns.notification(_bounce("hanako@example.jp"), version=version, subject=subject)
    # When SNS posts it to the webhook
    response = webhook.post(note)
    # Then it is accepted and the address is suppressed
    assert response.status_code == 200, response.text
    assert response.json()["suppressed"] == 1
    assert webhook.suppressed("hanako@example.jp")
    # And the certificate came from SNS's URL over HTTPS
    assert webhook.sns.fetched == [CERT_PATH]


def test_the_certificate_is_fetched_once_per_url(webhook: Webhook) -> None:
    # Given two signed bounces with the same SigningCertURL
    first = webhook.sns.notification(_bounce("hanako@example.jp"))
    second = webhook.sns.notification(_bounce("taro@example.jp"), version="2")
    # When both arrive in the same process
    assert webhook.post(first).status_code == 200
    assert webhook.post(second).status_code == 200
    # Then both addresses are suppressed and the certificate was fetched once
    assert webhook.suppressed("hanako@example.jp") and webhook.suppressed("taro@example.jp")
    assert webhook.sns.fetched == [CERT_PATH]


def test_a_tampered_message_is_a_401_and_suppresses_nothing(webhook: Webhook) -> None:
    # Given a signed transient bounce whose Message is then rewritten as a permanent one
    note = webhook.sns.notification(_bounce("hanako@example.jp", "Transient"))
    note["Message"] = json.dumps(_bounce("hanako@example.jp"))
    # When it is posted
    response = webhook.post(note)
    # Then it is refused as unauthenticated, naming the signature, and nothing changes
    assert response.status_code == 401, response.text
    assert response.json()["error"]["fields"][0]["field"] == "Signature"
    assert not webhook.suppressed("hanako@example.jp")


def test_a_missing_or_invalid_signature_is_a_401(webhook: Webhook) -> None:
    # Given signed bounces with the signature removed, garbled, of an unknown version,
    # or with a signed field changed afterwards
    changes: list[dict[str, str | None]] = [
        {"Signature": None},
        {"Signature": "not base64!"},
        {"SignatureVersion": None},
        {"SignatureVersion": "3"},
        {"MessageId": "another-id"},
    ]
    for change in changes:
        note = webhook.sns.notification(_bounce("hanako@example.jp"))
        note.update(change)
        note = {k: v for k, v in note.items() if v is not None}
        # When each is posted, then it is refused
        assert webhook.post(note).status_code == 401, change
    # And nothing is suppressed
    assert not webhook.suppressed("hanako@example.jp")


def test_a_message_signed_with_another_key_is_a_401(webhook: Webhook) -> None:
    # Given a bounce signed by a key that is not the one in SNS's certificate
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unsigned = webhook.sns.notification(_bounce("hanako@example.jp"))
    forged = webhook.sns.sign(
        {k: v for k, v in unsigned.items() if not k.startswith("Sig")}, key=other
    )
    # When it is posted, then it is refused and nothing is suppressed
    assert webhook.post(forged).status_code == 401
    assert not webhook.suppressed("hanako@example.jp")


def test_a_cert_url_on_an_untrusted_host_is_a_401_and_never_fetched(webhook: Webhook) -> None:
    # Given correctly signed bounces whose SigningCertURL is not SNS's: another host name
    # for the same server, plain http, and a path that is not a .pem
    port = webhook.sns.host.split(":")[1]
    urls = [
        webhook.sns.cert_url(host=f"localhost:{port}"),
        f"http://{webhook.sns.host}{CERT_PATH}",
        webhook.sns.cert_url(path="/SimpleNotificationService.txt"),
        webhook.sns.cert_url(path=f"{CERT_PATH}?x=1"),
    ]
    for url in urls:
        note = webhook.sns.notification(_bounce("hanako@example.jp"), cert_url=url)
        # When each is posted
        response = webhook.post(note)
        # Then it is refused, and the URL is never requested
        assert response.status_code == 401, (url, response.text)
        assert response.json()["error"]["fields"][0]["field"] == "SigningCertURL"
    assert webhook.sns.fetched == []
    assert not webhook.suppressed("hanako@example.jp")


def test_production_fetches_certificates_only_from_sns_hosts(webhook: Webhook) -> None:
    # Given the production host rule (the fetcher hands back the test certificate)
    fetcher = RecordingFetcher()
    webhook.use(sns_signatures=SnsSignatureVerifier(fetcher))
    lookalikes = [
        "https://sns.ap-northeast-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.ap-northeast-1.amazonaws.com/cert.pem",
        "https://sns.ap-northeast-1.amazonaws.com@evil.example/cert.pem",
        "https://sns.ap-northeast-1.amazonaws.com:8443/cert.pem",
        "https://sns-ap-northeast-1.amazonaws.com/cert.pem",
        "http://sns.ap-northeast-1.amazonaws.com/cert.pem",
    ]
    for url in lookalikes:
        # When a bounce points at a lookalike certificate URL
        note = webhook.sns.notification(_bounce("hanako@example.jp"), cert_url=url)
        # Then it is refused without fetching anything
        assert webhook.post(note).status_code == 401, url
    assert fetcher.fetched == [] and not webhook.suppressed("hanako@example.jp")
    # When bounces point at SNS's own hosts (a commercial and a China region)
    sns_urls = [
        "https://sns.ap-northeast-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
    ]
    for n, url in enumerate(sns_urls):
        note = webhook.sns.notification(_bounce(f"user{n}@example.jp"), cert_url=url)
        response = webhook.post(note)
        # Then those certificates are used and the bounces applied
        assert response.status_code == 200, response.text
        assert webhook.suppressed(f"user{n}@example.jp")
    assert fetcher.fetched == sns_urls


def test_a_signed_subscription_confirmation_calls_the_confirmer(webhook: Webhook) -> None:
    # Given SNS's signed request to confirm our subscription
    confirmation = webhook.sns.subscription_confirmation("tok-1")
    # When it is posted
    response = webhook.post(confirmation)
    # Then the subscription is confirmed through the SNS API with its topic and token
    assert response.status_code == 200, response.text
    assert webhook.confirmer.confirmed == [(TOPIC, "tok-1")]


def test_a_confirmation_with_a_swapped_token_confirms_nothing(webhook: Webhook) -> None:
    # Given a signed confirmation whose Token was replaced afterwards
    confirmation = webhook.sns.subscription_confirmation("tok-1")
    confirmation["Token"] = "tok-attacker"
    # When it is posted, then it is refused and nothing is confirmed
    assert webhook.post(confirmation).status_code == 401
    assert webhook.confirmer.confirmed == []


def test_an_old_timestamp_is_a_401(webhook: Webhook) -> None:
    # Given correctly signed bounces published more than an hour ago (or in the future)
    for at in (NOW - timedelta(hours=1, seconds=1), NOW + timedelta(hours=1, seconds=1)):
        note = webhook.sns.notification(_bounce("hanako@example.jp"), at=at)
        # When each is posted (a replay of a captured delivery)
        response = webhook.post(note)
        # Then it is refused, naming the Timestamp, before any certificate is fetched
        assert response.status_code == 401, response.text
        assert response.json()["error"]["fields"][0]["field"] == "Timestamp"
    assert webhook.sns.fetched == [] and not webhook.suppressed("hanako@example.jp")
    # And one published 59 minutes ago is still accepted
    fresh = webhook.sns.notification(_bounce("hanako@example.jp"), at=NOW - timedelta(minutes=59))
    assert webhook.post(fresh).status_code == 200


def test_the_token_and_topic_are_still_checked(webhook: Webhook) -> None:
    # Given correctly signed bounces
    note = webhook.sns.notification(_bounce("hanako@example.jp"))
    other_topic = webhook.sns.notification(
        _bounce("hanako@example.jp"), topic="arn:aws:sns:ap-northeast-1:999999999999:theirs"
    )
    # When one comes with the wrong token and one from a topic that is not ours
    wrong_token = webhook.http.post("/v1/webhooks/ses?token=nope", content=json.dumps(note))
    # Then both are refused, and nothing was fetched or suppressed
    assert wrong_token.status_code == 401
    assert webhook.post(other_topic).status_code == 401
    assert webhook.sns.fetched == [] and not webhook.suppressed("hanako@example.jp")


def test_a_certificate_server_that_fails_is_a_503_so_sns_retries(webhook: Webhook) -> None:
    # Given a signed bounce whose certificate URL is on SNS's host, which answers 503
    note = webhook.sns.notification(
        _bounce("hanako@example.jp"), cert_url=webhook.sns.cert_url(DOWN_PATH)
    )
    # When it is posted
    response = webhook.post(note)
    # Then it is a 503 (SNS retries 5xx; a 4xx would drop the bounce) and nothing changes
    assert response.status_code == 503, response.text
    assert webhook.sns.fetched == [DOWN_PATH]
    assert not webhook.suppressed("hanako@example.jp")
    # And a certificate URL that does not exist there is a 401
    missing = webhook.sns.notification(
        _bounce("hanako@example.jp"), cert_url=webhook.sns.cert_url("/nothing-here.pem")
    )
    assert webhook.post(missing).status_code == 401
