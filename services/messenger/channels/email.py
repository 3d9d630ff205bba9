"""Mail over Amazon SES v2, as real MIME.

Every message carries `List-Unsubscribe` with an HTTPS link and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), so mailbox providers
show a one-click unsubscribe button that works without a login.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from messenger.channels.base import Channel, OutboundMessage, SendResult, SendStatus

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

_HARD_FAILURES = {
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "AccountSuspendedException",
}


def build_mime(message: OutboundMessage, sender_email: str, sender_name: str) -> EmailMessage:
    mime = EmailMessage()
    mime["From"] = Address(display_name=sender_name, addr_spec=sender_email)
    mime["To"] = message.to
    mime["Subject"] = message.subject or ""
    mime["Date"] = format_datetime(datetime.now(UTC))
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

    def __init__(self, client: SESV2Client, sender_email: str, sender_name: str) -> None:
        self._client = client
        self._sender_email = sender_email
        self._sender_name = sender_name

    def send(self, message: OutboundMessage) -> SendResult:
        mime = build_mime(message, self._sender_email, self._sender_name)
        try:
            response = self._client.send_email(
                FromEmailAddress=self._sender_email,
                Destination={"ToAddresses": [message.to]},
                Content={"Raw": {"Data": mime.as_bytes()}},
                EmailTags=[{"Name": "delivery", "Value": message.delivery_id}],
            )
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code"))
            status = SendStatus.HARD_FAILED if code in _HARD_FAILURES else SendStatus.RETRYABLE
            return SendResult(status, error=code)
        return SendResult(SendStatus.SENT, provider_message_id=response.get("MessageId"))
