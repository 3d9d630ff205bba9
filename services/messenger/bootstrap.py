"""Composition root: wires the messenger's real adapters (or the fakes a test passes)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from messenger.adapters.campaigns import CampaignRepository, DynamoCampaignRepository
from messenger.adapters.line_credentials import (
    CachedLineCredentials,
    SecretsManagerLineCredentials,
)
from messenger.adapters.messages import (
    CachedMessageRepository,
    DynamoMessageRepository,
    MessageRepository,
)
from messenger.adapters.recipients import DynamoRecipientRepository, RecipientRepository
from messenger.adapters.recommendations import (
    NoRecommendations,
    RecommendationSource,
    SegmenterRecommendations,
)
from messenger.adapters.repository import DeliveryRepository, DynamoDeliveryRepository
from messenger.adapters.sns_certificates import SnsSignatureVerifier
from messenger.channels.base import Channel
from messenger.channels.email import EmailChannel, SesSenderIdentities
from messenger.channels.line import LineChannel
from messenger.channels.sms import SmsChannel
from messenger.channels.throttle import RateLimiter, ThrottledChannel
from messenger.domain.policy import SenderIdentity
from messenger.services.campaigns import Campaigns
from messenger.services.common import LinkSigner
from messenger.services.engagement import Engagement
from messenger.services.line_accounts import LineAccounts
from messenger.services.sending import UNCONFIRMED_AFTER, Messaging
from messenger.services.webhooks import SesWebhookConfig, SubscriptionConfirmer
from shared import aws
from shared import clock as shared_clock
from shared.adapters.eventbridge import EventBridgePublisher, EventPublisher
from shared.auth.store import DynamoKeyStore, KeyStore
from shared.settings import Settings, get_settings


class SnsSubscriptionConfirmer(SubscriptionConfirmer):
    def __init__(self, client: Any) -> None:
        self._client = client

    def confirm(self, topic_arn: str, token: str) -> None:
        self._client.confirm_subscription(TopicArn=topic_arn, Token=token)


@dataclass
class MessengerContainer:
    settings: Settings
    keys: KeyStore
    deliveries: DeliveryRepository
    email: Channel
    publisher: EventPublisher
    sender: SenderIdentity
    links: LinkSigner
    clock: Callable[[], datetime] = field(default=shared_clock.now)
    recipients: RecipientRepository | None = None
    messages: MessageRepository | None = None
    channels: dict[str, Channel] = field(default_factory=dict)
    recommendations: RecommendationSource = field(default_factory=NoRecommendations)
    confirmer: SubscriptionConfirmer | None = None
    sns_signatures: SnsSignatureVerifier = field(default_factory=SnsSignatureVerifier)
    campaign_repo: CampaignRepository | None = None
    line_accounts: LineAccounts | None = None
    """The shops' own LINE channels; `channels["line"]` is the platform's, when configured."""
    sender_identities: SesSenderIdentities | None = None
    unconfirmed_after: timedelta = UNCONFIRMED_AFTER
    """How long a claim may stay `sending` before the dispatcher makes it a dead letter."""

    @property
    def platform_line(self) -> bool:
        """Whether shops without a LINE channel of their own send through the platform's."""
        return "line" in self.channels

    @property
    def campaigns(self) -> Campaigns:
        assert self.campaign_repo is not None and self.recipients is not None
        return Campaigns(
            repo=self.campaign_repo,
            recipients=self.recipients,
            messaging=self.messaging,
            attribution_window=timedelta(days=self.settings.attribution_window_days),
            clock=self.clock,
            tick_seconds=self.settings.campaign_tick_seconds,
        )

    @property
    def engagement(self) -> Engagement:
        assert self.campaign_repo is not None and self.recipients is not None
        return Engagement(
            repo=self.campaign_repo,
            recipients=self.recipients,
            publisher=self.publisher,
            secret=self.settings.signing_secret.get_secret_value(),
            clock=self.clock,
        )

    @property
    def messaging(self) -> Messaging:
        assert self.recipients is not None and self.messages is not None
        return Messaging(
            deliveries=self.deliveries,
            recipients=self.recipients,
            messages=self.messages,
            channels=self.channels or {"email": self.email},
            publisher=self.publisher,
            sender=self.sender,
            links=self.links,
            recommendations=self.recommendations,
            clock=self.clock,
            line_accounts=self.line_accounts,
            verified_sender=(
                self.sender_identities.is_verified if self.sender_identities else None
            ),
            unconfirmed_after=self.unconfirmed_after,
        )

    @property
    def ses_webhook(self) -> SesWebhookConfig:
        arns = self.settings.ses_notification_topic_arns
        return SesWebhookConfig(
            token=self.settings.ses_notification_token.get_secret_value(),
            topic_arns=frozenset(a.strip() for a in arns.split(",") if a.strip()),
            signatures=self.sns_signatures,
        )


def line_sandbox_file(settings: Settings) -> Path | None:
    """Where the sandbox LINE channel records pushes (None: call LINE for real)."""
    if not settings.sandbox:
        return None
    from shared.local.sandbox import LINE_SANDBOX_ENV

    configured = os.environ.get(LINE_SANDBOX_ENV)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "kizuna-line.jsonl"


def line_channel_factory(settings: Settings) -> Callable[[str], Channel]:
    """Builds a LINE channel for an access token: each LINE channel has its own rate limit."""
    sandbox_file = line_sandbox_file(settings)

    def make(access_token: str) -> Channel:
        return ThrottledChannel(
            LineChannel(
                access_token, base_url=settings.line_api_base_url, sandbox_file=sandbox_file
            ),
            RateLimiter(settings.line_rate_per_minute, per=60.0),
        )

    return make


def line_secret_prefix(settings: Settings) -> str:
    """Secret names of the shops' LINE channels; the template grants exactly these."""
    return f"kizuna/{settings.messenger_table}/line-channel/"


def build(settings: Settings | None = None) -> MessengerContainer:
    settings = settings or get_settings()
    session = aws.session(settings.aws_region)
    dynamodb = aws.client(session, "dynamodb")
    sns = aws.client(session, "sns")
    sesv2 = aws.client(session, "sesv2")
    email = EmailChannel(
        sesv2,
        settings.sender_email,
        settings.sender_name,
        configuration_set=settings.ses_configuration_set,
        sandbox=settings.sandbox,
    )
    make_line_channel = line_channel_factory(settings)
    channels: dict[str, Channel] = {
        "email": ThrottledChannel(email, RateLimiter(settings.ses_rate_per_second)),
        "sms": ThrottledChannel(
            SmsChannel(sns, sender_id=settings.sms_sender_id, sandbox=settings.sandbox),
            RateLimiter(settings.sns_sms_rate_per_second),
        ),
    }
    platform_token = settings.line_channel_access_token.get_secret_value()
    if platform_token or settings.sandbox:
        # The platform's own LINE channel, for shops without one (the sandbox records
        # instead of sending, so it needs no token).
        channels["line"] = make_line_channel(platform_token)
    return MessengerContainer(
        settings=settings,
        keys=DynamoKeyStore(dynamodb, settings.platform_table),
        deliveries=DynamoDeliveryRepository(dynamodb, settings.messenger_table),
        email=email,
        publisher=EventBridgePublisher(aws.client(session, "events"), settings.event_bus_name),
        sender=SenderIdentity(
            settings.sender_name, settings.sender_email, settings.sender_postal_address
        ),
        links=LinkSigner(settings.public_base_url, settings.signing_secret.get_secret_value()),
        recipients=DynamoRecipientRepository(dynamodb, settings.messenger_table),
        messages=CachedMessageRepository(
            DynamoMessageRepository(dynamodb, settings.messenger_table),
            ttl=settings.messenger_cache_seconds,
        ),
        channels=channels,
        confirmer=SnsSubscriptionConfirmer(sns),
        sender_identities=SesSenderIdentities(sesv2),
        recommendations=SegmenterRecommendations(
            settings.segmenter_api_url or settings.public_base_url,
            settings.signing_secret.get_secret_value(),
        ),
        campaign_repo=DynamoCampaignRepository(dynamodb, settings.messenger_table),
        line_accounts=LineAccounts(
            CachedLineCredentials(
                SecretsManagerLineCredentials(
                    aws.client(session, "secretsmanager"), line_secret_prefix(settings)
                ),
                ttl=settings.messenger_cache_seconds,
            ),
            make_line_channel,
            settings.public_base_url,
        ),
        unconfirmed_after=timedelta(minutes=settings.messenger_unconfirmed_after_minutes),
    )
