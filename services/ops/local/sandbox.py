"""What the local stack would have sent: mail from moto SES, SMS from moto SNS, LINE from a file.

Locally nothing leaves the machine, so a developer needs one place to see every message
a journey or campaign produced. Mail and SMS go through the real SES v2 / SNS APIs into
moto, and are read back from moto's backends (the moto server runs in this process).
LINE has no moto backend: the messenger's sandbox LINE channel appends one JSON object
per push to a JSONL file (`shared.adapters.line_sandbox.record_line_message`), whose path
the local stack puts in the environment as `KIZUNA_LINE_SANDBOX_FILE`.
"""

from __future__ import annotations

import email
import json
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, TypedDict

from shared.adapters.line_sandbox import LINE_SANDBOX_ENV, record_line_message

__all__ = [
    "LINE_SANDBOX_ENV",
    "SandboxMessage",
    "line_messages",
    "moto_mail_messages",
    "moto_sms_messages",
    "record_line_message",
]


class SandboxMessage(TypedDict):
    """One message that would have been sent, whatever the channel."""

    channel: Literal["mail", "sms", "line"]
    id: str
    to: str
    subject: str | None
    body: str
    raw: Any


def line_messages(path: Path | None) -> list[SandboxMessage]:
    """LINE pushes recorded in the JSONL file, if it exists; broken lines are skipped."""
    if path is None or not path.exists():
        return []
    messages: list[SandboxMessage] = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            entry = json.loads(text)
        except json.JSONDecodeError:
            continue
        if not isinstance(entry, dict):
            continue
        messages.append(
            SandboxMessage(
                channel="line",
                id=str(entry.get("id", f"line-{number}")),
                to=str(entry.get("to", "")),
                subject=None,
                body=str(entry.get("body", "")),
                raw=entry.get("raw"),
            )
        )
    return messages


def _backends(backend_dict: Any) -> list[Any]:
    """Every region backend moto has created so far (never creates new ones)."""
    found: list[Any] = []
    for account in list(backend_dict.values()):
        found.extend(list(account.values()))
    return found


def _text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""


def moto_mail_messages() -> list[SandboxMessage]:
    """Mail sent through SES v1 or v2 (both land in the SES v1 backend's `sent_messages`)."""
    from moto.ses.models import ses_backends

    messages: list[SandboxMessage] = []
    for backend in _backends(ses_backends):
        for sent in list(backend.sent_messages):
            raw_data = getattr(sent, "raw_data", None)
            if isinstance(raw_data, str):
                parsed = email.message_from_string(raw_data, policy=policy.default)
                assert isinstance(parsed, EmailMessage)
                to = parsed.get("To") or ", ".join(getattr(sent, "destinations", []) or [])
                messages.append(
                    SandboxMessage(
                        channel="mail",
                        id=str(sent.id),
                        to=str(to),
                        subject=str(parsed["Subject"]) if parsed["Subject"] else None,
                        body=_text_of(parsed),
                        raw=raw_data,
                    )
                )
                continue
            destinations = getattr(sent, "destinations", {}) or {}
            if isinstance(destinations, dict):
                addresses = [
                    a
                    for key in ("ToAddresses", "CcAddresses", "BccAddresses")
                    for a in destinations.get(key, [])
                ]
            else:
                addresses = list(destinations)
            messages.append(
                SandboxMessage(
                    channel="mail",
                    id=str(sent.id),
                    to=", ".join(addresses),
                    subject=getattr(sent, "subject", None),
                    body=str(getattr(sent, "body", "") or getattr(sent, "template_data", "")),
                    raw=None,
                )
            )
    return messages


def moto_sms_messages() -> list[SandboxMessage]:
    """SMS published through SNS `Publish(PhoneNumber=...)`, kept by moto in `sms_messages`."""
    from moto.sns.models import sns_backends

    messages: list[SandboxMessage] = []
    for backend in _backends(sns_backends):
        for message_id, (phone, text) in list(backend.sms_messages.items()):
            messages.append(
                SandboxMessage(
                    channel="sms",
                    id=str(message_id),
                    to=str(phone),
                    subject=None,
                    body=str(text),
                    raw=None,
                )
            )
    return messages
