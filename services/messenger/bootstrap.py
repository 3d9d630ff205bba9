"""Composition root: wires the messenger's real adapters (or the fakes a test passes)."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from messenger.channels.names import EMAIL, LINE, SMS
from messenger.domain.sender import SenderIdentity
from messenger.services.ports import SubscriptionConfirmer
from shared import aws
from shared import clock as shared_clock
from shared.auth.store import DynamoKeyStore, KeyStore
from shared.first_use import on_first_use
from shared.settings import Settings, get_settings

if TYPE_CHECKING:
    from messenger.adapters.repository import CampaignWeeks
    from messenger.channels.base import Channel
    from messenger.services.campaigns import Campaigns
    from messenger.services.carriers import Carriers
    from messenger.services.common import LinkSigner
    from messenger.services.coupons import Coupons
    from messenger.services.dispatcher import Dispatcher
    from messenger.services.due import DueQueue
    from messenger.services.engagement import Engagement
    from messenger.services.inserts import Inserts
    from messenger.services.journeys.builtins import BuiltinJourneys
    from messenger.services.journeys.definitions import JourneyDefinitions
    from messenger.services.journeys.dispatch import JourneyDispatch
    from messenger.services.journeys.enrolments import SegmentEnrolments
    from messenger.services.journeys.intake import JourneyIntake
    from messenger.services.journeys.outcomes import JourneyOutcomes
    from messenger.services.journeys.runner import StepRunner
    from messenger.services.journeys.stats import JourneyStats
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
        ShardQueue,
        SignatureVerifier,
    )
    from messenger.services.rendering import Rendering
    from messenger.services.requested import RequestedSends
    from messenger.services.shipping import ShippingNotices
    from messenger.services.webhooks import Webhooks
    from messenger.services.week import WeekPeople
    from shared.adapters.erasures import ErasureLog
    from shared.adapters.eventbridge import EventPublisher
    from shared.rights import ConsumerRights, PersonalData


class SnsSubscriptionConfirmer(SubscriptionConfirmer):
    """Confirms SES's notification topic subscription through SNS."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def confirm(self, topic_arn: str, token: str) -> None:
        self._client.confirm_subscription(TopicArn=topic_arn, Token=token)


def _unconfirmed_after() -> timedelta:
    """The send pipeline's default, imported only for containers that do not set it
    (`build` does, from the settings: the API's import loads no pipeline module)."""
    from messenger.services.sending import UNCONFIRMED_AFTER

    return UNCONFIRMED_AFTER


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
    sns_signatures: SignatureVerifier
    personal_data: PersonalData
    """What the tables hold on a person (disclosure, erasure)."""
    erasures: ErasureLog
    shard_queue: ShardQueue | None = None
    """Where the journey tick fans due shards out to; None: the tick works them itself."""
    clock: Callable[[], datetime] = shared_clock.now
    unconfirmed_after: timedelta = field(default_factory=_unconfirmed_after)
    """How long a claim may stay `sending` before the dispatcher makes it a dead letter."""

    @property
    def platform_line(self) -> bool:
        """Whether shops without a LINE channel of their own send through the platform's."""
        return LINE in self.channels


T = TypeVar("T")

JOURNEY_STATUS_TTL = timedelta(minutes=1)

_WIRING = threading.RLock()
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
    """The messenger's use cases, each wired from the adapters on first use, once per
    container: a request imports and builds only the ones it reaches (cold start)."""

    adapters: MessengerAdapters

    def _once(self, name: str, make: Callable[[], T]) -> T:
        """`make()`'s use case, built by the first caller only (two threads may ask at once;
        a use case wired inside another's wiring takes the lock again)."""
        built: T | None = self.__dict__.get(name)
        if built is None:
            with _WIRING:
                built = self.__dict__.get(name)
                if built is None:
                    built = make()
                    self.__dict__[name] = built
        return built

    @property
    def library(self) -> MessageLibrary:
        from messenger.services.messages import MessageLibrary

        a = self.adapters
        return self._once(
            "library", lambda: MessageLibrary(a.messages, a.sender, a.verified_sender)
        )

    @property
    def carriers(self) -> Carriers:
        from messenger.services.carriers import Carriers

        return self._once(
            "carriers", lambda: Carriers(self.adapters.channels, self.adapters.line_accounts)
        )

    @property
    def rendering(self) -> Rendering:
        from messenger.services.rendering import Rendering

        a = self.adapters
        return self._once(
            "rendering",
            lambda: Rendering(
                self.library, a.recipients, self.carriers, a.links, a.recommendations, a.clock
            ),
        )

    @property
    def ledger(self) -> Ledger:
        from messenger.services.ledger import Ledger

        return self._once("ledger", lambda: Ledger(self.adapters.deliveries))

    @property
    def pipeline(self) -> SendPipeline:
        from messenger.services.pipeline import SendPipeline

        a = self.adapters
        return self._once(
            "pipeline",
            lambda: SendPipeline(
                deliveries=a.deliveries,
                recipients=a.recipients,
                library=self.library,
                rendering=self.rendering,
                carriers=self.carriers,
                ledger=self.ledger,
                publisher=a.publisher,
                links=a.links,
                clock=a.clock,
                unconfirmed_after=a.unconfirmed_after,
            ),
        )

    @property
    def requested(self) -> RequestedSends:
        from messenger.services.requested import RequestedSends

        a = self.adapters
        return self._once(
            "requested",
            lambda: RequestedSends(self.pipeline, a.recipients, a.clock, a.journey_facts),
        )

    @property
    def due(self) -> DueQueue:
        from messenger.services.due import DueQueue

        a = self.adapters
        return self._once(
            "due", lambda: DueQueue(a.deliveries, self.library, self.pipeline, self.ledger, a.clock)
        )

    @property
    def campaigns(self) -> Campaigns:
        from messenger.services.campaigns import Campaigns

        a = self.adapters
        return self._once(
            "campaigns",
            lambda: Campaigns(
                repo=a.campaign_repo,
                recipients=a.recipients,
                library=self.library,
                sends=self.pipeline,
                attribution_window=timedelta(days=a.settings.attribution_window_days),
                clock=a.clock,
                tick_seconds=a.settings.campaign_tick_seconds,
            ),
        )

    @property
    def engagement(self) -> Engagement:
        from messenger.services.engagement import Engagement

        a = self.adapters
        return self._once(
            "engagement",
            lambda: Engagement(
                repo=a.campaign_repo,
                recipients=a.recipients,
                publisher=a.publisher,
                secret=a.settings.signing_secret.get_secret_value(),
                clock=a.clock,
            ),
        )

    @property
    def orders(self) -> Orders:
        from messenger.services.orders import Orders

        return self._once(
            "orders",
            lambda: Orders(
                self.adapters.recipients,
                self.campaigns,
                self.pipeline,
                self.coupons,
                self.inserts,
                self.adapters.clock,
                lambda: self.adapters.journey_repo,
            ),
        )

    @property
    def shipping(self) -> ShippingNotices:
        from messenger.services.shipping import ShippingNotices

        return self._once("shipping", lambda: ShippingNotices(self.library, self.pipeline))

    @property
    def coupons(self) -> Coupons:
        from messenger.services.coupons import Coupons

        a = self.adapters
        return self._once(
            "coupons",
            lambda: Coupons(a.coupon_repo, a.settings.signing_secret.get_secret_value(), a.clock),
        )

    @property
    def inserts(self) -> Inserts:
        from messenger.services.inserts import Inserts

        a = self.adapters
        return self._once("inserts", lambda: Inserts(a.insert_repo, self.library, a.clock))

    @property
    def webhooks(self) -> Webhooks:
        from messenger.services.webhooks import SesWebhookConfig, Webhooks

        a = self.adapters
        settings = a.settings
        arns = settings.ses_notification_topic_arns
        return self._once(
            "webhooks",
            lambda: Webhooks(
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
                postbacks=self.engagement.line_events,
                clock=a.clock,
            ),
        )

    @property
    def rights(self) -> ConsumerRights:
        """Disclosure and `customer.erased` on the messenger's side."""
        from shared.rights import ConsumerRights

        a = self.adapters
        return self._once(
            "rights", lambda: ConsumerRights("messenger", a.personal_data, a.erasures, a.clock)
        )

    @property
    def journeys(self) -> Journeys:
        """The journey engine: a request that never reaches a journey does not import it."""
        return self._once(
            "journeys",
            lambda: wire_journeys(
                self.adapters, self.library, self.pipeline, self.coupons, self.inserts
            ),
        )

    @property
    def week(self) -> WeekPeople:
        """The customers behind the overview's week tiles (campaigns and journeys)."""
        from messenger.services.week import WeekPeople

        return self._once("week", lambda: WeekPeople(self.campaigns, self.journeys.stats.repo))

    @property
    def merges(self) -> Merges:
        """`customer.merged`: unsubscribes follow the person, merged-away flows end."""
        from messenger.services.merges import Merges

        return self._once(
            "merges", lambda: Merges(self.adapters.deliveries, lambda: self.journeys.intake)
        )

    @property
    def dispatcher(self) -> Dispatcher:
        """The minute tick: the due queue, the campaigns, then the journeys."""
        from messenger.services.dispatcher import Dispatcher

        return self._once(
            "dispatcher", lambda: Dispatcher(self.due, self.campaigns, self.journeys.dispatch)
        )

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
    """The composition root: each use case is built from the adapters on first use."""
    return MessengerContainer(adapters=a)


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
        from messenger.channels.line import LineChannel
        from messenger.channels.throttle import RateLimiter, ThrottledChannel

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
    """The real adapters, each built (and its module imported) on first use."""
    settings = settings or get_settings()
    real = _RealAdapters(settings)
    channels: dict[str, Channel] = {
        EMAIL: on_first_use(real.email_channel),
        SMS: on_first_use(real.sms_channel),
    }
    platform_token = settings.line_channel_access_token.get_secret_value()
    if platform_token or settings.sandbox:
        # The platform's own LINE channel, for shops without one (the sandbox records
        # instead of sending, so it needs no token).
        channels[LINE] = on_first_use(lambda: real.make_line_channel(platform_token))
    adapters = MessengerAdapters(
        settings=settings,
        keys=DynamoKeyStore(real.dynamodb, settings.platform_table),
        deliveries=on_first_use(real.deliveries),
        publisher=on_first_use(real.publisher),
        sender=SenderIdentity(
            settings.sender_name, settings.sender_email, settings.sender_postal_address
        ),
        links=on_first_use(real.links),
        recipients=on_first_use(real.recipients),
        messages=on_first_use(real.messages),
        channels=channels,
        confirmer=SnsSubscriptionConfirmer(aws.client(real.session, "sns")),
        sns_signatures=on_first_use(real.sns_signatures),
        verified_sender=real.verified_sender,
        recommendations=on_first_use(real.recommendations),
        profile_rules=on_first_use(real.profile_rules),
        campaign_repo=on_first_use(real.campaign_repo),
        coupon_repo=on_first_use(real.coupon_repo),
        insert_repo=on_first_use(real.insert_repo),
        journey_repo=on_first_use(real.journey_repo),
        journey_facts=on_first_use(real.journey_facts),
        shard_queue=on_first_use(real.shard_queue) if settings.journey_shards_queue_url else None,
        line_accounts=on_first_use(real.line_accounts),
        personal_data=on_first_use(real.personal_data),
        erasures=on_first_use(real.erasures),
        unconfirmed_after=timedelta(minutes=settings.messenger_unconfirmed_after_minutes),
    )
    return wire(adapters)


class _RealAdapters:
    """Makes each real adapter, importing its module only then (`build` asks on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.session = aws.session(settings.aws_region)
        self.dynamodb = aws.client(self.session, "dynamodb")
        self.table = settings.messenger_table
        self.secret = settings.signing_secret.get_secret_value()
        self.segmenter_url = settings.segmenter_api_url or settings.public_base_url
        self.make_line_channel = line_channel_factory(settings)
        self._identities: Any = None
        self._weeks: CampaignWeeks | None = None

    def email_channel(self) -> Channel:
        from messenger.channels.email import EmailChannel
        from messenger.channels.throttle import RateLimiter, ThrottledChannel

        s = self.settings
        email = EmailChannel(
            aws.client(self.session, "sesv2"),
            s.sender_email,
            s.sender_name,
            configuration_set=s.ses_configuration_set,
            sandbox=s.sandbox,
        )
        return ThrottledChannel(email, RateLimiter(s.ses_rate_per_second))

    def sms_channel(self) -> Channel:
        from messenger.channels.sms import SmsChannel
        from messenger.channels.throttle import RateLimiter, ThrottledChannel

        s = self.settings
        sms = SmsChannel(
            aws.client(self.session, "sns"), sender_id=s.sms_sender_id, sandbox=s.sandbox
        )
        return ThrottledChannel(sms, RateLimiter(s.sns_sms_rate_per_second))

    def verified_sender(self, address: str) -> bool:
        """Whether SES may send from an address (its identities read on first use)."""
        if self._identities is None:
            from messenger.channels.email import SesSenderIdentities

            self._identities = SesSenderIdentities(aws.client(self.session, "sesv2"))
        verified: bool = self._identities.is_verified(address)
        return verified

    def deliveries(self) -> DeliveryRepository:
        from messenger.adapters.repository import DynamoDeliveryRepository

        return DynamoDeliveryRepository(
            self.dynamodb, self.table, self.settings.journeys_table, self.campaign_weeks()
        )

    def campaign_weeks(self) -> CampaignWeeks:
        """One `CampaignWeeks` for the deliveries and the campaigns: each campaign's week
        read once per process, whichever of them meets it first."""
        if self._weeks is None:
            from messenger.adapters.repository import CampaignWeeks

            self._weeks = CampaignWeeks(self.dynamodb, self.table, self.settings.journeys_table)
        return self._weeks

    def recipients(self) -> RecipientRepository:
        from messenger.adapters.recipients import DynamoRecipientRepository

        return DynamoRecipientRepository(self.dynamodb, self.table)

    def messages(self) -> MessageRepository:
        from messenger.adapters.messages import CachedMessageRepository, DynamoMessageRepository

        return CachedMessageRepository(
            DynamoMessageRepository(self.dynamodb, self.table),
            ttl=self.settings.messenger_cache_seconds,
        )

    def publisher(self) -> EventPublisher:
        from shared.adapters.eventbridge import EventBridgePublisher

        return EventBridgePublisher(
            aws.client(self.session, "events"), self.settings.event_bus_name
        )

    def links(self) -> LinkSigner:
        from messenger.services.common import LinkSigner

        return LinkSigner(self.settings.public_base_url, self.secret)

    def sns_signatures(self) -> SignatureVerifier:
        from messenger.adapters.sns_certificates import SnsSignatureVerifier

        return SnsSignatureVerifier()

    def recommendations(self) -> RecommendationSource:
        from messenger.adapters.recommendations import SegmenterRecommendations

        return SegmenterRecommendations(self.segmenter_url, self.secret)

    def profile_rules(self) -> ProfileRules:
        from messenger.adapters.profile_rules import SegmenterProfileRules

        return SegmenterProfileRules(self.segmenter_url, self.secret)

    def campaign_repo(self) -> CampaignRepository:
        from messenger.adapters.campaigns import DynamoCampaignRepository

        return DynamoCampaignRepository(
            self.dynamodb, self.table, self.settings.journeys_table, self.campaign_weeks()
        )

    def coupon_repo(self) -> CouponRepository:
        from messenger.adapters.coupons import DynamoCouponRepository

        return DynamoCouponRepository(self.dynamodb, self.table)

    def insert_repo(self) -> InsertRepository:
        from messenger.adapters.inserts import DynamoInsertRepository

        return DynamoInsertRepository(self.dynamodb, self.table)

    def journey_repo(self) -> JourneyRepository:
        from messenger.adapters.journeys import DynamoJourneyRepository

        s = self.settings
        return DynamoJourneyRepository(self.dynamodb, s.journeys_table, s.journey_due_shards)

    def journey_facts(self) -> JourneyFacts:
        from messenger.adapters.journey_facts import DynamoJourneyFacts

        return DynamoJourneyFacts(self.dynamodb, self.settings.journeys_table)

    def shard_queue(self) -> ShardQueue:
        from messenger.adapters.shard_queue import SqsShardQueue

        s = self.settings
        return SqsShardQueue(aws.client(self.session, "sqs"), s.journey_shards_queue_url)

    def line_accounts(self) -> LineAccounts:
        from messenger.adapters.line_credentials import (
            CachedLineCredentials,
            SecretsManagerLineCredentials,
        )
        from messenger.services.line_accounts import LineAccounts

        s = self.settings
        store = SecretsManagerLineCredentials(
            aws.client(self.session, "secretsmanager"), line_secret_prefix(s)
        )
        return LineAccounts(
            CachedLineCredentials(store, ttl=s.messenger_cache_seconds),
            self.make_line_channel,
            s.public_base_url,
        )

    def erasures(self) -> ErasureLog:
        from shared.adapters.erasures import DynamoErasureLog

        return DynamoErasureLog(self.dynamodb, self.settings.messenger_table, "messenger")

    def personal_data(self) -> PersonalData:
        """The messenger's tables, and the events dead-letter queue when one is configured
        (the events function's: it hears `customer.erased`), erased as one."""
        from messenger.adapters.rights import DynamoMessengerPersonalData
        from shared.adapters.dead_letters import SqsDeadLetters
        from shared.rights import Together

        s = self.settings
        tables = DynamoMessengerPersonalData(self.dynamodb, s.messenger_table, s.journeys_table)
        if not s.events_dead_letter_queue_url:
            return tables
        queue = SqsDeadLetters(aws.client(self.session, "sqs"), s.events_dead_letter_queue_url)
        return Together(tables, queue)
