"""What became of a journey's sends: delivered (handed to the provider, also when a
quiet hour or a cap deferred it), opened, clicked, counted per journey version and step.

The messenger hears its own `message.sent`, `message.opened` and `message.clicked`; a
delivery of a journey is known by its trigger (`journey:<id>:<step>`) and its anchor
(`<enrolment>:<version>:<step>:<key>`). Each is counted once per delivery (a marker
written in the same transaction as the counters), whatever EventBridge redelivers and
however often a link is clicked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from messenger.domain.journeys.cohorts import week_scope
from messenger.domain.journeys.enrolment import Enrolment, EnrolmentStatus
from messenger.domain.journeys.plan import shard_of
from messenger.domain.journeys.records import Counter
from messenger.services.ports import DeliveryRepository, JourneyRepository

COUNTED = {"message.sent": "delivered", "message.opened": "opened", "message.clicked": "clicked"}


@dataclass(frozen=True)
class JourneyOutcomes:
    repo: JourneyRepository
    deliveries: DeliveryRepository
    shards: int

    def record(
        self,
        shop_id: str,
        event_type: str,
        customer_id: str,
        delivery_id: str,
        trigger: str | None,
        at: datetime,
        campaign_id: str | None = None,
    ) -> str | None:
        """Count one outcome of a journey's delivery; the counter's name, or None when
        the delivery is no journey's or was counted already. Opens and clicks name only
        the delivery: it is read (one query) to learn its trigger and anchor."""
        name = COUNTED.get(event_type)
        if name is None or campaign_id is not None:  # a campaign's: never a journey's
            return None
        if trigger is not None and not trigger.startswith("journey:"):
            return None
        delivery = self.deliveries.find(shop_id, customer_id, delivery_id)
        if delivery is None or not delivery.key.trigger.startswith("journey:"):
            return None
        _, journey_id, step_id = delivery.key.trigger.split(":", 2)
        enrolment_id, version, *_ = delivery.key.anchor.split(":", 2)
        if not version.isdigit():
            return None
        e = Enrolment(
            shop_id=shop_id,
            journey_id=journey_id,
            version=int(version),
            customer_id=customer_id,
            enrolment_id=enrolment_id,
            key="",
            entered_at=at,
            status=EnrolmentStatus.ACTIVE,
            step=step_id,
            due_at=None,
            shard=shard_of(enrolment_id, self.shards),
        )
        counters = [Counter(f"S#{step_id}", {name: 1}), Counter(week_scope(at), {name: 1})]
        return name if self.repo.count_once(e, f"{name}#{delivery_id}", counters) else None
