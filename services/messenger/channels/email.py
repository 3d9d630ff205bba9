"""Mail over Amazon SES v2, as real MIME.

Every marketing message carries `List-Unsubscribe` with an HTTPS link and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), so mailbox providers
show a one-click unsubscribe button that works without a login.

Those two headers go out verbatim, on one line (`MAIL_POLICY`): Python's default policy
would RFC 2047-encode a header longer than 78 characters that has no space to fold at
(`=?utf-8?q?=3Chttps...`), and Gmail and Yahoo show no unsubscribe button for that.
"""

from __future__ import annotations

from dataclasses import replace
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from messenger.channels.base import Addressing, Channel, OutboundMessage, SendResult, SendStatus
from messenger.domain.rendering import Rendered, RenderedEmail
from messenger.domain.tracking import instrument_html
from shared import clock as shared_clock

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client


_REJECTED = {
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "AccountSuspendedException",
}
"""SES refuses the message or the shop's sending setup: nothing about the person (a bad
address is caught before the call; bounces arrive later and suppress the address)."""


def is_valid_address(address: str) -> bool:
    """Syntax only (no DNS): a malformed address is a hard failure, never sent to SES."""
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


class SesSenderIdentities:
    """Whether a shop may send as an address: SES only sends from a verified identity,
    the address itself or its domain, so a sender is checked when the shop saves it
    instead of every mail of theirs being refused later."""

    def __init__(self, client: SESV2Client) -> None:
        self._client = client

    def is_verified(self, address: str) -> bool:
        domain = address.rsplit("@", maxsplit=1)[-1]
        for identity in (address, domain):
            try:
                found = self._client.get_email_identity(EmailIdentity=identity)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") == "NotFoundException":
                    continue
                raise
            # VerificationStatus is what the local stack (moto) reports for a created one.
            if (
                found.get("VerifiedForSendingStatus")
                or found.get("VerificationStatus") == "SUCCESS"
            ):
                return True
        return False


_VERBATIM = frozenset({"list-unsubscribe", "list-unsubscribe-post"})
_MAX_LINE = 998
"""RFC 5322 §2.1.1: a line is at most 998 characters, CRLF excluded."""


class _OneClickPolicy(EmailPolicy):
    """The default SMTP policy, except that the RFC 8058 headers are written as they are,
    on one line: mailbox providers read them literally (`<https://…>`), never decoded.
    Every other header (a Japanese Subject, the From name) keeps RFC 2047 folding."""

    def _verbatim(self, name: str, value: str) -> str | None:
        if name.lower() not in _VERBATIM:
            return None
        line = f"{name}: {value}"
        if not line.isascii() or len(line) > _MAX_LINE:
            raise ValueError(f"{name} must be ASCII and fit on one line of {_MAX_LINE} chars")
        return line + self.linesep

    def fold(self, name: str, value: str) -> str:
        return self._verbatim(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        line = self._verbatim(name, value)
        return line.encode("ascii") if line is not None else super().fold_binary(name, value)


MAIL_POLICY = _OneClickPolicy(linesep="\r\n")
"""How Kizuna serialises mail: SMTP line ends, RFC 8058 headers verbatim."""


def build_mime(message: OutboundMessage, sender_email: str, sender_name: str) -> EmailMessage:
    mime = EmailMessage(policy=MAIL_POLICY)
    mime["From"] = Address(display_name=sender_name, addr_spec=sender_email)
    mime["To"] = message.to
    mime["Subject"] = message.subject or ""
    mime["Date"] = format_datetime(shared_clock.now())
    mime["Message-ID"] = make_msgid(
        idstring=message.delivery_id[:16], domain=sender_email.rsplit("@", maxsplit=1)[-1]
    )
    mime["X-Kizuna-Delivery"] = message.delivery_id
    if message.unsubscribe_url:
        mime["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text, charset="utf-8")
    if message.html:
        mime.add_alternative(message.html, subtype="html", charset="utf-8")
    return mime


class EmailChannel(Channel):
    name = "email"
    supports_html = True
    supports_subject = True
    suppressible = True

    @classmethod
    def address_problem(cls, to: str) -> str | None:
        return None if is_valid_address(to) else "not a valid email address"

    @classmethod
    def canonical_address(cls, to: str) -> str:
        return to.strip().lower()

    @classmethod
    def outbound(cls, rendered: Rendered, to: Addressing) -> OutboundMessage:
        assert isinstance(rendered, RenderedEmail)
        if to.tracking is not None:
            html = instrument_html(rendered.html, to.tracking.delivery, to.tracking.urls)
            rendered = replace(rendered, html=html)
        return OutboundMessage(
            delivery_id=to.delivery_id,
            to=to.to,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            unsubscribe_url=to.unsubscribe_url,
            category=to.category,
            sender_name=to.sender.name if to.sender else None,
            sender_email=to.sender.email if to.sender else None,
        )

    def __init__(
        self,
        client: SESV2Client,
        sender_email: str,
        sender_name: str,
        *,
        configuration_set: str | None = None,
        sandbox: bool = False,
    ) -> None:
        self._client = client
        self._sender_email = sender_email
        self._sender_name = sender_name
        self._configuration_set = configuration_set
        self.sandbox = sandbox

    def send(self, message: OutboundMessage) -> SendResult:
        if not is_valid_address(message.to):
            return SendResult(SendStatus.HARD_FAILED, error="invalid_address")
        sender_email = message.sender_email or self._sender_email
        sender_name = message.sender_name or self._sender_name
        mime = build_mime(message, sender_email, sender_name)
        extra: dict[str, Any] = {}
        if self._configuration_set:
            # The configuration set's SNS event destination reports bounces and complaints.
            extra["ConfigurationSetName"] = self._configuration_set
        try:
            response = self._client.send_email(
                FromEmailAddress=sender_email,
                Destination={"ToAddresses": [message.to]},
                Content={"Raw": {"Data": mime.as_bytes()}},
                EmailTags=[{"Name": "delivery", "Value": message.delivery_id}],
                **extra,
            )
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code"))
            status = SendStatus.REJECTED if code in _REJECTED else SendStatus.RETRYABLE
            return SendResult(status, error=code)
        except (BotoCoreError, ResponseParserError) as err:
            # No connection, a timeout, an answer that is not the provider's (a proxy's
            # error page): the call failed for now, not the message.
            return SendResult(SendStatus.RETRYABLE, error=type(err).__name__)
        return SendResult(SendStatus.SENT, provider_message_id=response.get("MessageId"))
