"""Request and response bodies of the messenger API (`XCreate` in, `XPublic` out).

One module per route group. pydantic makes a model class when its module is imported
(a million instructions or so each), and a route names its bodies only when FastAPI
builds it (`shared/http/deferred.py`): so each group's module is imported when a route
first asks this package for one of its bodies, and a cold start's request loads its own
group only."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from messenger.entrypoints.schemas.campaigns import CampaignCreate as CampaignCreate
    from messenger.entrypoints.schemas.campaigns import (
        CampaignCustomersPublic as CampaignCustomersPublic,
    )
    from messenger.entrypoints.schemas.campaigns import CampaignPublic as CampaignPublic
    from messenger.entrypoints.schemas.campaigns import (
        CampaignResultsPublic as CampaignResultsPublic,
    )
    from messenger.entrypoints.schemas.campaigns import ResultMetric as ResultMetric
    from messenger.entrypoints.schemas.campaigns import ResultRank as ResultRank
    from messenger.entrypoints.schemas.campaigns import ResultRowPublic as ResultRowPublic
    from messenger.entrypoints.schemas.campaigns import VariantIn as VariantIn
    from messenger.entrypoints.schemas.coupons import CouponCodePublic as CouponCodePublic
    from messenger.entrypoints.schemas.coupons import CouponCodesUpload as CouponCodesUpload
    from messenger.entrypoints.schemas.coupons import CouponGiveCreate as CouponGiveCreate
    from messenger.entrypoints.schemas.coupons import CouponGivenPublic as CouponGivenPublic
    from messenger.entrypoints.schemas.coupons import CouponPoolCreate as CouponPoolCreate
    from messenger.entrypoints.schemas.coupons import CouponPoolPublic as CouponPoolPublic
    from messenger.entrypoints.schemas.coupons import CouponUploadPublic as CouponUploadPublic
    from messenger.entrypoints.schemas.inserts import InsertChoiceCreate as InsertChoiceCreate
    from messenger.entrypoints.schemas.inserts import InsertPublic as InsertPublic
    from messenger.entrypoints.schemas.inserts import InsertUpdate as InsertUpdate
    from messenger.entrypoints.schemas.inserts import PickLinePublic as PickLinePublic
    from messenger.entrypoints.schemas.journeys import BuiltinEnabledPublic as BuiltinEnabledPublic
    from messenger.entrypoints.schemas.journeys import BuiltinJourneyPublic as BuiltinJourneyPublic
    from messenger.entrypoints.schemas.journeys import EnrolmentPublic as EnrolmentPublic
    from messenger.entrypoints.schemas.journeys import EnrolmentsCreate as EnrolmentsCreate
    from messenger.entrypoints.schemas.journeys import EnrolmentsPublic as EnrolmentsPublic
    from messenger.entrypoints.schemas.journeys import (
        JourneyCustomersPublic as JourneyCustomersPublic,
    )
    from messenger.entrypoints.schemas.journeys import JourneyMetric as JourneyMetric
    from messenger.entrypoints.schemas.journeys import JourneyPublic as JourneyPublic
    from messenger.entrypoints.schemas.journeys import JourneySummaryPublic as JourneySummaryPublic
    from messenger.entrypoints.schemas.journeys import JourneyValidPublic as JourneyValidPublic
    from messenger.entrypoints.schemas.journeys import ProductUsagePublic as ProductUsagePublic
    from messenger.entrypoints.schemas.journeys import ProductUsagePut as ProductUsagePut
    from messenger.entrypoints.schemas.messages import CouponIn as CouponIn
    from messenger.entrypoints.schemas.messages import EmailContentIn as EmailContentIn
    from messenger.entrypoints.schemas.messages import LineContentIn as LineContentIn
    from messenger.entrypoints.schemas.messages import MessageCreate as MessageCreate
    from messenger.entrypoints.schemas.messages import MessagePublic as MessagePublic
    from messenger.entrypoints.schemas.messages import SmsContentIn as SmsContentIn
    from messenger.entrypoints.schemas.policy import LineChannelPublic as LineChannelPublic
    from messenger.entrypoints.schemas.policy import LineChannelUpdate as LineChannelUpdate
    from messenger.entrypoints.schemas.policy import PolicyPublic as PolicyPublic
    from messenger.entrypoints.schemas.policy import PolicyUpdate as PolicyUpdate
    from messenger.entrypoints.schemas.policy import SenderIn as SenderIn
    from messenger.entrypoints.schemas.sends import ChannelPreviewPublic as ChannelPreviewPublic
    from messenger.entrypoints.schemas.sends import DeliveryFilter as DeliveryFilter
    from messenger.entrypoints.schemas.sends import DeliveryPublic as DeliveryPublic
    from messenger.entrypoints.schemas.sends import PreviewCreate as PreviewCreate
    from messenger.entrypoints.schemas.sends import RedriveCreate as RedriveCreate
    from messenger.entrypoints.schemas.sends import RedrivePublic as RedrivePublic
    from messenger.entrypoints.schemas.sends import SendCreate as SendCreate
    from messenger.entrypoints.schemas.sends import SendPublic as SendPublic
    from messenger.entrypoints.schemas.sends import SmsLengthPublic as SmsLengthPublic
    from messenger.entrypoints.schemas.sends import TestSendCreate as TestSendCreate
    from messenger.entrypoints.schemas.sends import WeekCustomersPublic as WeekCustomersPublic
    from messenger.entrypoints.schemas.sends import WeekMetric as WeekMetric
    from messenger.entrypoints.schemas.sends import WeekSourcesPublic as WeekSourcesPublic


GROUPS: dict[str, tuple[str, ...]] = {
    "messages": (
        "EmailContentIn",
        "LineContentIn",
        "SmsContentIn",
        "CouponIn",
        "MessageCreate",
        "MessagePublic",
    ),
    "sends": (
        "DeliveryFilter",
        "PreviewCreate",
        "SmsLengthPublic",
        "ChannelPreviewPublic",
        "SendCreate",
        "TestSendCreate",
        "SendPublic",
        "DeliveryPublic",
        "RedriveCreate",
        "RedrivePublic",
        "WeekCustomersPublic",
        "WeekNumbersPublic",
        "WeekCampaignPublic",
        "WeekJourneyPublic",
        "WeekSourcesPublic",
    ),
    "policy": (
        "SenderIn",
        "PolicyUpdate",
        "PolicyPublic",
        "LineChannelUpdate",
        "LineChannelPublic",
    ),
    "campaigns": (
        "VariantIn",
        "CampaignCreate",
        "CampaignPublic",
        "ResultRowPublic",
        "CampaignResultsPublic",
        "CampaignCustomersPublic",
    ),
    "coupons": (
        "CouponPoolCreate",
        "CouponPoolPublic",
        "CouponCodesUpload",
        "CouponUploadPublic",
        "CouponGiveCreate",
        "CouponGivenPublic",
        "CouponCodePublic",
    ),
    "inserts": (
        "InsertUpdate",
        "InsertPublic",
        "InsertChoiceCreate",
        "PickLinePublic",
    ),
    "journeys": (
        "JourneyPublic",
        "JourneySummaryPublic",
        "EnrolmentPublic",
        "EnrolmentsCreate",
        "EnrolmentsPublic",
        "JourneyValidPublic",
        "BuiltinJourneyPublic",
        "BuiltinEnabledPublic",
        "ProductUsagePut",
        "ProductUsagePublic",
        "JourneyCustomersPublic",
    ),
}
"""Each group's module and the bodies it defines."""

TYPES: dict[str, str] = {
    "ResultMetric": "campaigns",
    "ResultRank": "campaigns",
    "JourneyMetric": "journeys",
    "WeekMetric": "sends",
}
"""The query parameters' value types (not bodies), and the group module defining each."""

_GROUP_OF = {name: group for group, names in GROUPS.items() for name in names} | TYPES


def __getattr__(name: str) -> Any:
    """A body, its group's module imported on first use."""
    group = _GROUP_OF.get(name)
    if group is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    body = getattr(import_module(f"{__name__}.{group}"), name)
    globals()[name] = body
    return body
