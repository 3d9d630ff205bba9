"""Opens, clicks and LINE postbacks → `message.opened` / `message.clicked`.

Deduplication: the first open per delivery is published and counted (A/B, results);
later opens (every image reload) are not. Every click is published (the segmenter sees
each one as an activity), but only the first click per delivery counts as a unique
click for the A/B test and the results. A campaign open or click is also the person's
last touch, which an order within the attribution window is credited to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from messenger.channels.kinds import LINE
from messenger.domain.campaign import Touch
from messenger.domain.model import DeliveryKey
from messenger.domain.tracking import TrackedDelivery, read_click, read_open, read_postback
from messenger.services.ports import CampaignRepository, RecipientRepository
from shared import clock as shared_clock
from shared.adapters.eventbridge import EventPublisher
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.log import get_logger

_log = get_logger("kizuna.messenger.services.engagement")


@dataclass
class Engagement:
    repo: CampaignRepository
    recipients: RecipientRepository
    publisher: EventPublisher
    secret: str
    clock: Callable[[], datetime] = field(default=shared_clock.now)

    def _publish(self, event_id: str, kind: str, t: TrackedDelivery, url: str | None) -> None:
        self.publisher.publish(
            [
                EventEnvelope(
                    id=event_id,
                    shop=t.shop_id,
                    type=kind,
                    time=self.clock(),
                    detail=details.MessageEngaged(
                        delivery_id=t.delivery_id,
                        customer_id=t.customer_id,
                        channel=t.channel,
                        campaign_id=t.campaign_id,
                        variant=t.variant,
                        url=url,
                    ).model_dump(mode="json"),
                )
            ]
        )

    def _touch(self, t: TrackedDelivery, at: datetime) -> None:
        if t.campaign_id is not None:
            self.repo.touch(
                t.shop_id, t.customer_id, Touch(t.campaign_id, t.variant, t.delivery_id, at)
            )

    def opened(self, token: str) -> bool:
        """The open pixel was loaded; True if it was the first open of the delivery."""
        t = read_open(self.secret, token)
        now = self.clock()
        first = self.repo.first_engagement(t, "open", now)
        if first:
            self._touch(t, now)
            self._publish(f"open-{t.delivery_id}", "message.opened", t, None)
        _log.info("open", extra={"delivery_id": t.delivery_id, "first": first})
        return first

    def clicked(self, token: str) -> str:
        """A tracked link was followed; the target to redirect to (checked http/https)."""
        click = read_click(self.secret, token)
        self._click(click.delivery, click.url)
        return click.url

    def _click(self, t: TrackedDelivery, url: str) -> bool:
        now = self.clock()
        first = self.repo.first_engagement(t, "click", now)
        self._touch(t, now)
        digest = hashlib.sha256(f"{url}|{now.isoformat()}".encode()).hexdigest()[:16]
        self._publish(f"click-{t.delivery_id}-{digest}", "message.clicked", t, url)
        _log.info("click", extra={"delivery_id": t.delivery_id, "first": first})
        return first

    def line_events(
        self,
        events: list[dict[str, Any]],
        linked: Callable[[str], list[tuple[str, str]]] | None = None,
    ) -> int:
        """LINE `postback` events (the webhook's signature is already verified). `linked`:
        the customers the webhook speaks for (its shop's), by LINE user id."""
        linked = linked or self.recipients.find_by_line_user
        counted = 0
        for event in events:
            if event.get("type") != "postback":
                continue
            user_id = (event.get("source") or {}).get("userId")
            data = str((event.get("postback") or {}).get("data", ""))
            postback = read_postback(self.secret, data)
            if postback is None or not user_id:
                continue  # not one of ours, or altered: ignored
            for shop_id, customer_id in linked(str(user_id)):
                if shop_id != postback.shop_id:
                    continue
                delivery_id = DeliveryKey(
                    shop_id, postback.trigger, customer_id, postback.anchor
                ).delivery_id
                tracked = TrackedDelivery(
                    shop_id,
                    delivery_id,
                    customer_id,
                    LINE,
                    postback.campaign_id,
                    postback.variant,
                )
                self._click(tracked, f"line-postback:{postback.data}")
                counted += 1
        return counted
