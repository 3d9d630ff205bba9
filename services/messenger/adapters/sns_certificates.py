"""SNS message signatures: proof that an HTTPS delivery was sent by Amazon SNS.

SNS signs every message it posts with the private key of an X.509 certificate it
publishes at `SigningCertURL`. Verification follows AWS's documented steps: the
certificate is fetched only over https from `sns.<region>.amazonaws.com` (or
`.amazonaws.com.cn`) with a `.pem` path, never following redirects; the string to sign
is the message's fixed fields as "name\\nvalue\\n" in byte order; `SignatureVersion` 1 is
SHA1withRSA, 2 is SHA256withRSA (PKCS#1 v1.5). A message older than an hour is refused
so a captured delivery cannot be replayed later. Certificates are cached per URL for
the life of the process. `cryptography` and `httpx` are imported only when a message is
verified, so the API Lambda's cold start does not pay for them.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from messenger.services.ports import SignatureVerifier
from shared.errors import DependencyFailed, Unauthenticated

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

AWS_SNS_HOSTS = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?")
"""Hosts SNS serves signing certificates from (matched against the whole netloc, so a
port, user info or a longer host never matches)."""
MAX_AGE = timedelta(hours=1)
MAX_CERTIFICATE_BYTES = 64 * 1024
CACHED_CERTIFICATES = 32

SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNED_FIELDS["UnsubscribeConfirmation"] = SIGNED_FIELDS["SubscriptionConfirmation"]
_OPTIONAL_FIELDS = frozenset({"Subject"})
_HASH_BY_VERSION = {"1": "SHA1", "2": "SHA256"}


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical bytes SNS signed: each signed field as name, newline, value, newline."""
    kind = message.get("Type")
    fields = SIGNED_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise Unauthenticated("unknown SNS message Type", field="Type")
    parts: list[str] = []
    for name in fields:
        value = message.get(name)
        if value is None and name in _OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise Unauthenticated(f"SNS message has no {name}", field=name)
        parts += [name, "\n", value, "\n"]
    return "".join(parts).encode()


def is_trusted_cert_url(url: str, hosts: re.Pattern[str] = AWS_SNS_HOSTS) -> bool:
    """https, a host SNS signs from, a `.pem` path, and nothing else in the URL."""
    parts = urlsplit(url)
    return (
        parts.scheme == "https"
        and hosts.fullmatch(parts.netloc) is not None
        and parts.path.endswith(".pem")
        and not parts.query
        and not parts.fragment
    )


def check_fresh(timestamp: object, now: datetime, max_age: timedelta = MAX_AGE) -> None:
    """Refuses a replayed delivery: SNS's publish time must be within `max_age` of now."""
    if not isinstance(timestamp, str):
        raise Unauthenticated("SNS message has no Timestamp", field="Timestamp")
    try:
        sent = datetime.fromisoformat(timestamp)
    except ValueError:
        raise Unauthenticated("SNS Timestamp is not an ISO 8601 time", field="Timestamp") from None
    if sent.tzinfo is None or abs(now - sent) > max_age:
        raise Unauthenticated("SNS message is too old (or from the future)", field="Timestamp")


def load_public_key(pem: bytes) -> RSAPublicKey:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    try:
        key = x509.load_pem_x509_certificate(pem).public_key()
    except ValueError:
        raise Unauthenticated(
            "SigningCertURL is not a PEM certificate", field="SigningCertURL"
        ) from None
    if not isinstance(key, RSAPublicKey):
        raise Unauthenticated("SigningCertURL is not an RSA certificate", field="SigningCertURL")
    return key


def verify_rsa(key: RSAPublicKey, version: object, signature: object, data: bytes) -> None:
    """RSA PKCS#1 v1.5 over `data`, SHA1 for SignatureVersion 1 and SHA256 for 2."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    algorithm = _HASH_BY_VERSION.get(version) if isinstance(version, str) else None
    if algorithm is None:
        raise Unauthenticated("unsupported SNS SignatureVersion", field="SignatureVersion")
    if not isinstance(signature, str) or not signature:
        raise Unauthenticated("SNS message has no Signature", field="Signature")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise Unauthenticated("SNS Signature is not base64", field="Signature") from None
    digest = hashes.SHA1() if algorithm == "SHA1" else hashes.SHA256()  # noqa: S303 (SignatureVersion 1)
    try:
        key.verify(raw, data, padding.PKCS1v15(), digest)
    except InvalidSignature:
        raise Unauthenticated(
            "SNS Signature does not match the message", field="Signature"
        ) from None


class CertificateFetcher:
    """Port: the PEM bytes at a (trusted) certificate URL."""

    def fetch(self, url: str) -> bytes:
        raise NotImplementedError


class HttpCertificateFetcher(CertificateFetcher):
    """GET over httpx; no redirects (they would leave the trusted host). `verify` is the
    TLS trust (an `ssl.SSLContext` lets a test trust its local server's certificate)."""

    def __init__(self, timeout: float = 5.0, verify: ssl.SSLContext | bool = True) -> None:
        self._timeout = timeout
        self._verify = verify

    def fetch(self, url: str) -> bytes:
        import httpx

        try:
            with httpx.Client(
                timeout=self._timeout, verify=self._verify, follow_redirects=False
            ) as client:
                response = client.get(url)
        except httpx.HTTPError:
            raise DependencyFailed("SNS signing certificate could not be fetched") from None
        if response.status_code >= 500:
            raise DependencyFailed("SNS signing certificate could not be fetched")
        if response.status_code != 200 or len(response.content) > MAX_CERTIFICATE_BYTES:
            raise Unauthenticated(
                "SigningCertURL does not serve a certificate", field="SigningCertURL"
            )
        return response.content


class SnsSignatureVerifier(SignatureVerifier):
    """Checks an SNS message's signature; keeps the parsed certificates by URL.

    `trusted_hosts` is matched against the certificate URL's whole netloc; production
    keeps the AWS default (a test points it at its local HTTPS server)."""

    def __init__(
        self,
        fetcher: CertificateFetcher | None = None,
        trusted_hosts: re.Pattern[str] = AWS_SNS_HOSTS,
        max_age: timedelta = MAX_AGE,
    ) -> None:
        self._fetcher = fetcher or HttpCertificateFetcher()
        self._hosts = trusted_hosts
        self._max_age = max_age
        self._keys: OrderedDict[str, RSAPublicKey] = OrderedDict()

    def verify(self, message: Mapping[str, Any], now: datetime) -> None:
        """Raises Unauthenticated unless SNS signed exactly this message within the hour."""
        data = string_to_sign(message)
        url = message.get("SigningCertURL")
        if not isinstance(url, str) or not is_trusted_cert_url(url, self._hosts):
            raise Unauthenticated(
                "SigningCertURL is not an SNS certificate URL", field="SigningCertURL"
            )
        check_fresh(message.get("Timestamp"), now, self._max_age)
        verify_rsa(self._key(url), message.get("SignatureVersion"), message.get("Signature"), data)

    def _key(self, url: str) -> RSAPublicKey:
        key = self._keys.get(url)
        if key is None:
            key = load_public_key(self._fetcher.fetch(url))
            self._keys[url] = key
            while len(self._keys) > CACHED_CERTIFICATES:
                self._keys.popitem(last=False)
        return key
