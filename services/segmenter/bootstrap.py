"""Composition root: wires the segmenter's real adapters (or the fakes a test passes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from segmenter.adapters.analytics_data import AnalyticsData, DynamoAnalyticsData
from segmenter.adapters.analytics_store import AnalyticsStore, S3AnalyticsStore
from segmenter.adapters.campaign_results import CampaignResults, DynamoCampaignResults
from segmenter.adapters.repository import DynamoProfileRepository, ProfileRepository
from segmenter.services.ingest import Ingest
from segmenter.services.segments import SegmentCache
from shared import aws
from shared import clock as shared_clock
from shared.adapters.eventbridge import EventBridgePublisher, EventPublisher
from shared.auth.store import DynamoKeyStore, KeyStore
from shared.settings import Settings, get_settings


def _utcnow() -> datetime:
    return shared_clock.now()


@dataclass
class SegmenterContainer:
    settings: Settings
    keys: KeyStore
    profiles: ProfileRepository
    publisher: EventPublisher
    clock: Callable[[], datetime] = field(default=_utcnow)
    analytics: AnalyticsPorts | None = None
    """The analytics bucket and reads (None: a container built without them)."""
    segments: SegmentCache = field(init=False)

    def __post_init__(self) -> None:
        self.segments = SegmentCache(self.profiles)

    @property
    def ingest(self) -> Ingest:
        return Ingest(self.profiles, self.publisher, self.clock, self.segments)


@dataclass
class AnalyticsPorts:
    data: AnalyticsData
    store: AnalyticsStore
    campaigns: CampaignResults


def build(settings: Settings | None = None) -> SegmenterContainer:
    settings = settings or get_settings()
    session = aws.session(settings.aws_region)
    dynamodb = aws.client(session, "dynamodb")
    return SegmenterContainer(
        settings=settings,
        keys=DynamoKeyStore(dynamodb, settings.platform_table),
        profiles=DynamoProfileRepository(dynamodb, settings.segmenter_table),
        publisher=EventBridgePublisher(aws.client(session, "events"), settings.event_bus_name),
        analytics=AnalyticsPorts(
            data=DynamoAnalyticsData(dynamodb, settings.segmenter_table),
            store=S3AnalyticsStore(aws.client(session, "s3"), settings.analytics_bucket),
            campaigns=DynamoCampaignResults(dynamodb, settings.messenger_table),
        ),
    )
