"""The shipping notice (transactional): `order.shipped` with its carrier and tracking
number becomes a mail or LINE message with the tracking link, through the send door.

A shop turns it on by saving a message with the id ``shipping-notice`` (see
`messenger.domain.shipping`); without one, nothing is sent. One notice per order: the
delivery is anchored on the order id, so a replayed event sends nothing twice. The
journey engine may later own this flow (a built-in journey on `order.shipped`); the
message and its variables stay the same then.
"""

from __future__ import annotations

from dataclasses import dataclass

from messenger.domain.model import SkipReason
from messenger.domain.shipping import SHIPPING_NOTICE, SHIPPING_TRIGGER, shipment_variables
from messenger.services.messages import MessageLibrary
from messenger.services.sending import SendOutcome, SendRequest, Sends
from shared.contracts import details


@dataclass(frozen=True)
class ShippingNotices:
    library: MessageLibrary
    sends: Sends

    def shipped(self, shop_id: str, shipment: details.OrderShipped) -> SendOutcome:
        """Send the shop's shipping notice for this order, or skip (`not_enabled`) when
        the shop has none. A template that fails for this person is their own `failed`
        delivery, not a retried event."""
        if self.library.find(shop_id, SHIPPING_NOTICE) is None:
            return SendOutcome("", "skipped", SkipReason.NOT_ENABLED.value)
        policy = self.library.policy(shop_id)
        request = SendRequest(
            shop_id=shop_id,
            message_id=SHIPPING_NOTICE,
            customer_id=shipment.customer_id,
            trigger=SHIPPING_TRIGGER,
            anchor=shipment.order_id,
            variables=shipment_variables(
                shipment.order_id,
                shipment.carrier,
                shipment.tracking_number,
                shipment.shipped_at,
                policy.tracking_url_template,
            ),
        )
        return self.sends.send_batch([request])[0]
