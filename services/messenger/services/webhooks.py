"""Provider callbacks that change who may be reached.

LINE: each shop's own channel posts to `POST /v1/webhooks/line/<shop>`. LINE signs the
raw body: `X-Line-Signature` is the base64 HMAC-SHA256 of the body with the channel
secret, so that shop's secret verifies it, and its events change only that shop's
customers (LINE user ids are per provider: the same id in another shop is another
account's friend). An `unfollow` (the person blocked the account) marks LINE
unreachable for the shop's customers linked to that user id; a `follow` makes it
reachable again. A `postback` whose data we signed (for that shop) is a click.
`POST /v1/webhooks/line` is the platform's own channel (the global secret): it cannot
name a shop, so it speaks only for the shops that send through the platform's channel,
i.e. those without a channel of their own.

SES: SES v2 reports bounces and complaints through a configuration set's event
destination. Of its destinations (SNS, EventBridge on the *default* bus, Firehose,
CloudWatch, Pinpoint) we use SNS with an HTTPS subscription to
`POST /v1/webhooks/ses?token=<secret>`: EventBridge destinations only reach the
default bus, not Kizuna's custom bus. Authenticity is checked three ways: a shared
secret in the subscription URL (compared in constant time), the topic ARN (must be one
of ours), and the SNS message signature (RSA, with SNS's certificate fetched from
`sns.<region>.amazonaws.com`; see `messenger.adapters.sns_certificates`), which also
refuses a delivery more than an hour old. A subscription confirmation is confirmed with
the SNS API (`ConfirmSubscription`), never by fetching the URL in the message. Permanent
bounces and complaints suppress the address for every shop; transient bounces do not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from messenger.channels.kinds import EMAIL, LINE
from messenger.services.line_accounts import LineAccounts
from messenger.services.ports import (
    DeliveryRepository,
    RecipientRepository,
    SignatureVerifier,
    SubscriptionConfirmer,
)
from shared.errors import InvalidInput, Unauthenticated
from shared.log import get_logger

_log = get_logger("kizuna.messenger.services.webhooks")


def line_signature(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_line_signature(secret: str, body: bytes, signature: str | None) -> None:
    if not secret:
        raise Unauthenticated("LINE webhooks are not configured (no channel secret)")
    if not signature or not hmac.compare_digest(line_signature(secret, body), signature):
        raise Unauthenticated("X-Line-Signature does not match the body")


def _json(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("body is not JSON", field="body") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("body must be a JSON object", field="body")
    return parsed


Linked = Callable[[str], list[tuple[str, str]]]
"""The (shop, customer) pairs a webhook speaks for, linked to a LINE user id."""


def handle_shop_line_webhook(
    accounts: LineAccounts,
    recipients: RecipientRepository,
    shop_id: str,
    body: bytes,
    signature: str | None,
    clock: Callable[[], datetime],
    postbacks: Callable[[list[dict[str, Any]], Linked], int] | None = None,
) -> dict[str, int]:
    """A shop's own channel: verified with that shop's secret, changes only its customers.
    A shop without a channel of its own (or an unknown one) has no secret: 401."""
    secret = accounts.secret_of(shop_id)
    if secret is None:
        raise Unauthenticated("no LINE channel is connected for this webhook URL")

    def linked(user_id: str) -> list[tuple[str, str]]:
        return recipients.find_by_line_user(user_id, shop_id)

    return _handle_line_events(recipients, linked, secret, body, signature, clock, postbacks)


def handle_line_webhook(
    recipients: RecipientRepository,
    secret: str,
    body: bytes,
    signature: str | None,
    clock: Callable[[], datetime],
    postbacks: Callable[[list[dict[str, Any]], Linked], int] | None = None,
    has_own_channel: Callable[[str], bool] = lambda _: False,
) -> dict[str, int]:
    """The platform's channel (global secret): it speaks for the shops that send through
    it, never for a shop with a channel of its own."""

    def linked(user_id: str) -> list[tuple[str, str]]:
        found = recipients.find_by_line_user(user_id)
        return [(shop, customer) for shop, customer in found if not has_own_channel(shop)]

    return _handle_line_events(recipients, linked, secret, body, signature, clock, postbacks)


def _handle_line_events(
    recipients: RecipientRepository,
    linked: Linked,
    secret: str,
    body: bytes,
    signature: str | None,
    clock: Callable[[], datetime],
    postbacks: Callable[[list[dict[str, Any]], Linked], int] | None,
) -> dict[str, int]:
    """Follow/unfollow change reachability; postbacks (taps on signed actions) go to
    `postbacks` and come out as `message.clicked`."""
    verify_line_signature(secret, body, signature)
    events = _json(body).get("events") or []
    if not isinstance(events, list):
        raise InvalidInput("events must be a list", field="events")
    events = [e for e in events if isinstance(e, dict)]
    changed = 0
    for event in events:
        kind = event.get("type")
        user_id = (event.get("source") or {}).get("userId")
        if kind not in ("follow", "unfollow") or not user_id:
            continue
        for shop_id, customer_id in linked(str(user_id)):
            recipients.set_reachability(shop_id, customer_id, LINE, kind == "follow", clock())
            changed += 1
    tapped = postbacks(events, linked) if postbacks is not None else 0
    _log.info(
        "line webhook", extra={"events": len(events), "changed": changed, "postbacks": tapped}
    )
    return {"events": len(events), "changed": changed, "postbacks": tapped}


@dataclass(frozen=True)
class SesWebhookConfig:
    """What authenticates an SES notification: our token, our topics, SNS's signature."""

    token: str
    topic_arns: frozenset[str]
    signatures: SignatureVerifier


def handle_ses_notification(
    deliveries: DeliveryRepository,
    confirmer: SubscriptionConfirmer,
    config: SesWebhookConfig,
    body: bytes,
    token: str | None,
    clock: Callable[[], datetime],
) -> dict[str, Any]:
    if not config.token or not token or not hmac.compare_digest(config.token, token):
        raise Unauthenticated("missing or wrong notification token")
    envelope = _json(body)
    topic = str(envelope.get("TopicArn", ""))
    if topic not in config.topic_arns:
        raise Unauthenticated("notification from an unknown SNS topic")
    config.signatures.verify(envelope, clock())
    kind = envelope.get("Type")
    if kind == "SubscriptionConfirmation":
        confirmer.confirm(topic, str(envelope.get("Token", "")))
        return {"confirmed": True}
    if kind != "Notification":
        return {"ignored": str(kind)}
    try:
        inner = json.loads(str(envelope.get("Message", "")))
    except ValueError:
        raise InvalidInput("notification Message is not JSON", field="Message") from None
    event_type = inner.get("eventType") or inner.get("notificationType")
    addresses: list[str] = []
    reason = ""
    if event_type == "Bounce":
        bounce = inner.get("bounce") or {}
        if bounce.get("bounceType") == "Permanent":
            addresses = [r.get("emailAddress", "") for r in bounce.get("bouncedRecipients", [])]
            reason = "bounce"
    elif event_type == "Complaint":
        complaint = inner.get("complaint") or {}
        addresses = [r.get("emailAddress", "") for r in complaint.get("complainedRecipients", [])]
        reason = "complaint"
    suppressed = 0
    for address in addresses:
        if address:
            deliveries.suppress(EMAIL, address, reason, clock())
            suppressed += 1
    _log.info("ses notification", extra={"event_type": event_type, "suppressed": suppressed})
    return {"event_type": event_type, "suppressed": suppressed}


@dataclass(frozen=True)
class Webhooks:
    """The providers' webhooks with their adapters bound once (routes make one call)."""

    recipients: RecipientRepository
    deliveries: DeliveryRepository
    line_accounts: LineAccounts
    line_secret: str
    """The platform's LINE channel secret."""
    confirmer: SubscriptionConfirmer
    ses: SesWebhookConfig
    postbacks: Callable[[list[dict[str, Any]], Linked], int]
    clock: Callable[[], datetime]

    def shop_line(self, shop_id: str, body: bytes, signature: str | None) -> dict[str, int]:
        return handle_shop_line_webhook(
            self.line_accounts,
            self.recipients,
            shop_id,
            body,
            signature,
            self.clock,
            postbacks=self.postbacks,
        )

    def platform_line(self, body: bytes, signature: str | None) -> dict[str, int]:
        return handle_line_webhook(
            self.recipients,
            self.line_secret,
            body,
            signature,
            self.clock,
            postbacks=self.postbacks,
            has_own_channel=self.line_accounts.has_own_channel,
        )

    def ses_notification(self, body: bytes, token: str | None) -> dict[str, Any]:
        return handle_ses_notification(
            self.deliveries, self.confirmer, self.ses, body, token, self.clock
        )
