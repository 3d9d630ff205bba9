"""Composition root: wires the messenger's real adapters (or the fakes a test passes)."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from messenger.adapters.campaigns import DynamoCampaignRepository
from messenger.adapters.coupons import DynamoCouponRepository
from messenger.adapters.inserts import DynamoInsertRepository
from messenger.adapters.journey_facts import DynamoJourneyFacts
from messenger.adapters.journeys import DynamoJourneyRepository
from messenger.adapters.line_credentials import (
    CachedLineCredentials,
    SecretsManagerLineCredentials,
)
from messenger.adapters.messages import CachedMessageRepository, DynamoMessageRepository
from messenger.adapters.profile_rules import SegmenterProfileRules
from messenger.adapters.recipients import DynamoRecipientRepository
from messenger.adapters.recommendations import SegmenterRecommendations
from messenger.adapters.repository import DynamoDeliveryRepository
from messenger.adapters.rights import DynamoMessengerPersonalData
from messenger.adapters.shard_queue import SqsShardQueue
from messenger.adapters.sns_certificates import SnsSignatureVerifier
from messenger.channels.base import Channel
from messenger.channels.email import EmailChannel, SesSenderIdentities
from messenger.channels.kinds import EMAIL, LINE, SMS
from messenger.channels.line import LineChannel
from messenger.channels.sms import SmsChannel
from messenger.channels.throttle import RateLimiter, ThrottledChannel
from messenger.domain.policy import SenderIdentity
from messenger.services.campaigns import Campaigns
from messenger.services.carriers import Carriers
from messenger.services.common import LinkSigner
from messenger.services.coupons import Coupons
from messenger.services.dispatcher import Dispatcher
from messenger.services.due import DueQueue
from messenger.services.engagement import Engagement
from messenger.services.inserts import Inserts
from messenger.services.ledger import Ledger
from messenger.services.line_accounts import LineAccounts
from messenger.services.merges import Merges
from messenger.services.messages import MessageLibrary
from messenger.services.orders import Orders
from messenger.services.pipeline import SendPipeline
from messenger.services.ports import (
    CampaignRepository,
    CouponRepository,
    DeliveryRepository,
    InsertRepository,
    JourneyFacts,
    JourneyRepository,
    MessageRepository,
    ProfileRules,
    RecipientRepository,
    RecommendationSource,
)
from messenger.services.rendering import Rendering
from messenger.services.requested import RequestedSends
from messenger.services.sending import UNCONFIRMED_AFTER
from messenger.services.shipping import ShippingNotices
from messenger.services.webhooks import SesWebhookConfig, SubscriptionConfirmer, Webhooks
from shared import aws
from shared import clock as shared_clock
from shared.adapters.dead_letters import SqsDeadLetters
from shared.adapters.erasures import DynamoErasureLog, ErasureLog
from shared.adapters.eventbridge import EventBridgePublisher, EventPublisher
from shared.auth.store import DynamoKeyStore, KeyStore
from shared.rights import ConsumerRights, PersonalData, Together
from shared.settings import Settings, get_settings

if TYPE_CHECKING:
    from messenger.services.journeys.builtins import BuiltinJourneys
    from messenger.services.journeys.definitions import JourneyDefinitions
    from messenger.services.journeys.dispatch import JourneyDispatch
    from messenger.services.journeys.enrolments import SegmentEnrolments
    from messenger.services.journeys.intake import JourneyIntake
    from messenger.services.journeys.outcomes import JourneyOutcomes
    from messenger.services.journeys.runner import StepRunner
    from messenger.services.journeys.stats import JourneyStats
    from messenger.services.ports import ShardQueue


class SnsSubscriptionConfirmer(SubscriptionConfirmer):
    def __init__(self, client: Any) -> None:
        self._client = client

    def confirm(self, topic_arn: str, token: str) -> None:
        self._client.confirm_subscription(TopicArn=topic_arn, Token=token)


@dataclass(frozen=True)
class MessengerAdapters:
    """Every port the messenger's use cases need: the real ones from `build`, or the
    fakes a test puts in their place (`MessengerContainer.replaced`)."""

    settings: Settings
    keys: KeyStore
    deliveries: DeliveryRepository
    recipients: RecipientRepository
    messages: MessageRepository
    campaign_repo: CampaignRepository
    coupon_repo: CouponRepository
    insert_repo: InsertRepository
    journey_repo: JourneyRepository
    journey_facts: JourneyFacts
    """Carts, stock, order history, restock notices: what the built-in journeys read."""
    channels: dict[str, Channel]
    """The platform's channels by name; `line` only when the platform has one."""
    line_accounts: LineAccounts
    """The shops' own LINE channels."""
    publisher: EventPublisher
    sender: SenderIdentity
    links: LinkSigner
    recommendations: RecommendationSource
    profile_rules: ProfileRules
    """Judges journey filters' segment-language leaves on the profile (the segmenter)."""
    verified_sender: Callable[[str], bool]
    """Whether SES may send from an address (it or its domain is a verified identity)."""
    confirmer: SubscriptionConfirmer
    sns_signatures: SnsSignatureVerifier
    personal_data: PersonalData
    """What the tables hold on a person (disclosure, erasure)."""
    erasures: ErasureLog
    shard_queue: ShardQueue | None = None
    """Where the journey tick fans due shards out to; None: the tick works them itself."""
    clock: Callable[[], datetime] = shared_clock.now
    unconfirmed_after: timedelta = UNCONFIRMED_AFTER
    """How long a claim may stay `sending` before the dispatcher makes it a dead letter."""

    @property
    def platform_line(self) -> bool:
        """Whether shops without a LINE channel of their own send through the platform's."""
        return LINE in self.channels


JOURNEY_STATUS_TTL = timedelta(minutes=1)

_WIRING = threading.Lock()
"""Wires a container's journey engine once, when two threads reach it together."""


@dataclass(frozen=True)
class Journeys:
    """The journey engine's use cases, wired once."""

    definitions: JourneyDefinitions
    intake: JourneyIntake
    runner: StepRunner
    dispatch: JourneyDispatch
    stats: JourneyStats
    outcomes: JourneyOutcomes
    builtins: BuiltinJourneys
    enrolments: SegmentEnrolments


def wire_journeys(
    a: MessengerAdapters,
    library: MessageLibrary,
    pipeline: SendPipeline,
    coupons: Coupons,
    inserts: Inserts,
) -> Journeys:
    """The journey engine, imported here: only the journey routes and events reach it."""
    from messenger.services.journeys.book import JourneyBook
    from messenger.services.journeys.builtins import BuiltinJourneys
    from messenger.services.journeys.content import JourneyContent
    from messenger.services.journeys.definitions import JourneyDefinitions
    from messenger.services.journeys.dispatch import JourneyDispatch
    from messenger.services.journeys.enrolments import SegmentEnrolments
    from messenger.services.journeys.intake import JourneyIntake
    from messenger.services.journeys.outcomes import JourneyOutcomes
    from messenger.services.journeys.runner import StepRunner
    from messenger.services.journeys.stats import JourneyStats

    repo = a.journey_repo
    book = JourneyBook(repo)

    statuses: dict[tuple[str, str], tuple[str | None, datetime]] = {}

    def status_of(shop_id: str, journey_id: str) -> str | None:
        """The journey's status, read at most once a minute per warm worker (a pause or
        an archive reaches due steps within a minute)."""
        now = a.clock()
        known = statuses.get((shop_id, journey_id))
        if known is None or now - known[1] >= JOURNEY_STATUS_TTL or now < known[1]:
            head = repo.head(shop_id, journey_id)
            known = (head.status if head else None, now)
            statuses[(shop_id, journey_id)] = known
        return known[0]

    runner = StepRunner(
        repo=repo,
        book=book,
        recipients=a.recipients,
        in_segment=a.campaign_repo.is_member,
        library=library,
        sends=pipeline,
        publisher=a.publisher,
        status_of=status_of,
        clock=a.clock,
        profiles=a.profile_rules,
        content=JourneyContent(a.journey_facts, coupons),
        choose_insert=inserts.choose_insert,
    )
    shards = a.settings.journey_due_shards
    definitions = JourneyDefinitions(
        repo,
        book,
        library,
        a.campaign_repo.has_segment,
        a.clock,
        coupons.has_pool,
        lambda shop, insert: a.insert_repo.get_insert(shop, insert) is not None,
    )
    intake = JourneyIntake(repo, book, runner, shards, a.journey_facts, a.shard_queue)
    return Journeys(
        definitions=definitions,
        intake=intake,
        runner=runner,
        dispatch=JourneyDispatch(
            repo,
            runner,
            shards,
            a.settings.journey_steps_per_shard,
            a.clock,
            a.shard_queue,
            intake.date_scan,
        ),
        stats=JourneyStats(repo),
        outcomes=JourneyOutcomes(repo, a.deliveries, shards),
        builtins=BuiltinJourneys(definitions, library, coupons, a.clock),
        enrolments=SegmentEnrolments(
            repo, book, intake, a.campaign_repo.has_segment, a.campaign_repo.members, a.clock
        ),
    )


@dataclass(frozen=True)
class MessengerContainer:
    """The messenger's use cases, each wired once from the adapters (`wire`)."""

    adapters: MessengerAdapters
    library: MessageLibrary
    rendering: Rendering
    pipeline: SendPipeline
    requested: RequestedSends
    due: DueQueue
    campaigns: Campaigns
    engagement: Engagement
    orders: Orders
    shipping: ShippingNotices
    coupons: Coupons
    inserts: Inserts
    webhooks: Webhooks
    rights: ConsumerRights
    """Disclosure and `customer.erased` on the messenger's side."""

    @property
    def journeys(self) -> Journeys:
        """The journey engine, wired on first use, once per container: a request that
        never reaches a journey does not import it (cold start)."""
        built: Journeys | None = self.__dict__.get("_journeys")
        if built is None:
            with _WIRING:
                built = self.__dict__.get("_journeys")
                if built is None:
                    built = wire_journeys(
                        self.adapters, self.library, self.pipeline, self.coupons, self.inserts
                    )
                    self.__dict__["_journeys"] = built
        return built

    @cached_property
    def merges(self) -> Merges:
        """`customer.merged`: unsubscribes follow the person, merged-away flows end."""
        return Merges(self.adapters.deliveries, lambda: self.journeys.intake)

    @cached_property
    def dispatcher(self) -> Dispatcher:
        """The minute tick: the due queue, the campaigns, then the journeys."""
        return Dispatcher(self.due, self.campaigns, self.journeys.dispatch)

    @property
    def keys(self) -> KeyStore:
        """The API keys, which the shared HTTP layer authenticates with."""
        return self.adapters.keys

    @property
    def erasures(self) -> ErasureLog:
        """This service's erasure log (the shared status route reads it)."""
        return self.adapters.erasures

    def replaced(self, **adapters: Any) -> MessengerContainer:
        """The same messenger with some adapters swapped (a test's fakes), wired again."""
        return wire(replace(self.adapters, **adapters))


def wire(a: MessengerAdapters) -> MessengerContainer:
    """Build each use case once, from the adapters (the composition root)."""
    library = MessageLibrary(a.messages, a.sender, a.verified_sender)
    carriers = Carriers(a.channels, a.line_accounts)
    rendering = Rendering(library, a.recipients, carriers, a.links, a.recommendations, a.clock)
    ledger = Ledger(a.deliveries)
    pipeline = SendPipeline(
        deliveries=a.deliveries,
        recipients=a.recipients,
        library=library,
        rendering=rendering,
        carriers=carriers,
        ledger=ledger,
        publisher=a.publisher,
        links=a.links,
        clock=a.clock,
        unconfirmed_after=a.unconfirmed_after,
    )
    settings = a.settings
    arns = settings.ses_notification_topic_arns
    due = DueQueue(a.deliveries, library, pipeline, ledger, a.clock)
    campaigns = Campaigns(
        repo=a.campaign_repo,
        recipients=a.recipients,
        library=library,
        sends=pipeline,
        attribution_window=timedelta(days=settings.attribution_window_days),
        clock=a.clock,
        tick_seconds=settings.campaign_tick_seconds,
    )
    engagement = Engagement(
        repo=a.campaign_repo,
        recipients=a.recipients,
        publisher=a.publisher,
        secret=settings.signing_secret.get_secret_value(),
        clock=a.clock,
    )
    coupons = Coupons(a.coupon_repo, settings.signing_secret.get_secret_value(), a.clock)
    inserts = Inserts(a.insert_repo, library, a.clock)
    webhooks = Webhooks(
        recipients=a.recipients,
        deliveries=a.deliveries,
        line_accounts=a.line_accounts,
        line_secret=settings.line_channel_secret.get_secret_value(),
        confirmer=a.confirmer,
        ses=SesWebhookConfig(
            token=settings.ses_notification_token.get_secret_value(),
            topic_arns=frozenset(x.strip() for x in arns.split(",") if x.strip()),
            signatures=a.sns_signatures,
        ),
        postbacks=engagement.line_events,
        clock=a.clock,
    )
    return MessengerContainer(
        adapters=a,
        library=library,
        rendering=rendering,
        pipeline=pipeline,
        requested=RequestedSends(pipeline, a.recipients, a.clock, a.journey_facts),
        due=due,
        campaigns=campaigns,
        engagement=engagement,
        orders=Orders(a.recipients, campaigns, pipeline, coupons, inserts),
        shipping=ShippingNotices(library, pipeline),
        coupons=coupons,
        inserts=inserts,
        webhooks=webhooks,
        rights=ConsumerRights("messenger", a.personal_data, a.erasures, a.clock),
    )


def line_sandbox_file(settings: Settings) -> Path | None:
    """Where the sandbox LINE channel records pushes (None: call LINE for real)."""
    if not settings.sandbox:
        return None
    from shared.adapters.line_sandbox import LINE_SANDBOX_ENV

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
        EMAIL: ThrottledChannel(email, RateLimiter(settings.ses_rate_per_second)),
        SMS: ThrottledChannel(
            SmsChannel(sns, sender_id=settings.sms_sender_id, sandbox=settings.sandbox),
            RateLimiter(settings.sns_sms_rate_per_second),
        ),
    }
    platform_token = settings.line_channel_access_token.get_secret_value()
    if platform_token or settings.sandbox:
        # The platform's own LINE channel, for shops without one (the sandbox records
        # instead of sending, so it needs no token).
        channels[LINE] = make_line_channel(platform_token)
    adapters = MessengerAdapters(
        settings=settings,
        keys=DynamoKeyStore(dynamodb, settings.platform_table),
        deliveries=DynamoDeliveryRepository(dynamodb, settings.messenger_table),
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
        sns_signatures=SnsSignatureVerifier(),
        verified_sender=SesSenderIdentities(sesv2).is_verified,
        recommendations=SegmenterRecommendations(
            settings.segmenter_api_url or settings.public_base_url,
            settings.signing_secret.get_secret_value(),
        ),
        profile_rules=SegmenterProfileRules(
            settings.segmenter_api_url or settings.public_base_url,
            settings.signing_secret.get_secret_value(),
        ),
        campaign_repo=DynamoCampaignRepository(dynamodb, settings.messenger_table),
        coupon_repo=DynamoCouponRepository(dynamodb, settings.messenger_table),
        insert_repo=DynamoInsertRepository(dynamodb, settings.messenger_table),
        journey_repo=DynamoJourneyRepository(
            dynamodb, settings.journeys_table, settings.journey_due_shards
        ),
        journey_facts=DynamoJourneyFacts(dynamodb, settings.journeys_table),
        shard_queue=(
            SqsShardQueue(aws.client(session, "sqs"), settings.journey_shards_queue_url)
            if settings.journey_shards_queue_url
            else None
        ),
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
        personal_data=_personal_data(settings, dynamodb, session),
        erasures=DynamoErasureLog(dynamodb, settings.messenger_table, "messenger"),
        unconfirmed_after=timedelta(minutes=settings.messenger_unconfirmed_after_minutes),
    )
    return wire(adapters)


def _personal_data(settings: Settings, dynamodb: Any, session: Any) -> PersonalData:
    """The messenger's tables, and the events dead-letter queue when one is configured
    (the events function's: it hears `customer.erased`), erased as one."""
    tables = DynamoMessengerPersonalData(
        dynamodb, settings.messenger_table, settings.journeys_table
    )
    if not settings.events_dead_letter_queue_url:
        return tables
    queue = SqsDeadLetters(aws.client(session, "sqs"), settings.events_dead_letter_queue_url)
    return Together(tables, queue)
