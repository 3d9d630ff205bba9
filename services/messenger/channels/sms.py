"""SMS through Amazon SNS `Publish(PhoneNumber=...)`.

Numbers are normalised to E.164 (Japanese national numbers such as 090-1234-5678 are
read with the JP default region); a number that is not a valid mobile/fixed number is a
hard failure, so the dispatcher falls back to the next channel. SNS has no idempotency
key: exactly-once rests on the claim written before the call. In the local stack SNS is
moto, which keeps every SMS (that is the sandbox).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from messenger.channels.base import Addressing, Channel, OutboundMessage, SendResult, SendStatus
from messenger.domain.rendering import Rendered, RenderedSms
from messenger.domain.sms import MAX_PARTS, sms_length

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


_HARD_FAILURES = {"InvalidParameter", "InvalidParameterValue", "OptedOut", "EndpointDisabled"}


def normalise_phone(raw: str, default_region: str = "JP") -> str | None:
    """E.164 form of a phone number, or None when it is not a valid number."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


class SmsChannel(Channel):
    name = "sms"
    supports_html = False
    supports_subject = False
    max_text_length = 670

    @classmethod
    def address_problem(cls, to: str) -> str | None:
        return None if normalise_phone(to) is not None else "not a valid phone number"

    @classmethod
    def outbound(cls, rendered: Rendered, to: Addressing) -> OutboundMessage:
        assert isinstance(rendered, RenderedSms)
        return OutboundMessage(
            delivery_id=to.delivery_id,
            to=to.to,
            text=rendered.text,
            unsubscribe_url=to.unsubscribe_url,
            category=to.category,
        )

    """Ten UCS-2 parts (`MAX_PARTS`); longer texts are refused before sending."""

    def __init__(
        self,
        client: SNSClient,
        *,
        sender_id: str | None = None,
        default_region: str = "JP",
        sandbox: bool = False,
    ) -> None:
        self._client = client
        self._sender_id = sender_id
        self._default_region = default_region
        self.sandbox = sandbox

    def send(self, message: OutboundMessage) -> SendResult:
        phone = normalise_phone(message.to, self._default_region)
        if phone is None:
            return SendResult(SendStatus.HARD_FAILED, error="invalid_phone")
        if not message.text or sms_length(message.text).parts > MAX_PARTS:
            # The text, not the number: rendering refuses these before they get here.
            return SendResult(SendStatus.REJECTED, error="text_length")
        sms_type = "Transactional" if message.category == "transactional" else "Promotional"
        attributes: dict[str, dict[str, str]] = {
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": sms_type}
        }
        if self._sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {
                "DataType": "String",
                "StringValue": self._sender_id,
            }
        try:
            response = self._client.publish(
                PhoneNumber=phone,
                Message=message.text,
                MessageAttributes=attributes,  # type: ignore[arg-type]
            )
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code"))
            status = SendStatus.HARD_FAILED if code in _HARD_FAILURES else SendStatus.RETRYABLE
            return SendResult(status, error=code)
        except (BotoCoreError, ResponseParserError) as err:
            # No connection, a timeout, an answer that is not the provider's (a proxy's
            # error page): the call failed for now, not the number.
            return SendResult(SendStatus.RETRYABLE, error=type(err).__name__)
        return SendResult(SendStatus.SENT, provider_message_id=response.get("MessageId"))
