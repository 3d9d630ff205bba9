"""Signed unsubscribe links: they work without a login, so the signature is the only
proof the link was ours. Tampered or foreign tokens are refused.

A link names a channel (or ``all``) and a category, and optionally a topic (step mails,
newsletter, birthday, ...): a topic link leaves that topic on every channel, and the
rest of the category keeps coming. Links signed before topics existed still read."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from messenger.domain.model import topic_scope
from shared.errors import InvalidInput

_SALT = "kizuna.unsubscribe.v1"


@dataclass(frozen=True)
class UnsubscribeRequest:
    shop_id: str
    customer_id: str
    channel: str
    category: str
    topic: str | None = None

    @property
    def scope(self) -> str:
        """What the unsubscribe records next to the channel: the category, or the topic."""
        return self.category if self.topic is None else topic_scope(self.topic)


def unsubscribe_request(
    shop_id: str, customer_id: str, channel: str, category: str, topic: str | None
) -> UnsubscribeRequest:
    """What a message's link unsubscribes from: a marketing message with a topic leaves the
    topic on every channel; anything else its category on its channel."""
    if topic is not None and category == "marketing":
        return UnsubscribeRequest(shop_id, customer_id, "all", category, topic)
    return UnsubscribeRequest(shop_id, customer_id, channel, category)


def sign_unsubscribe(secret: str, req: UnsubscribeRequest) -> str:
    serializer = URLSafeSerializer(secret, salt=_SALT)
    fields = [req.shop_id, req.customer_id, req.channel, req.category]
    if req.topic is not None:
        fields.append(req.topic)
    return str(serializer.dumps(fields))


def read_unsubscribe(secret: str, token: str) -> UnsubscribeRequest:
    serializer = URLSafeSerializer(secret, salt=_SALT)
    try:
        shop_id, customer_id, channel, category, *rest = serializer.loads(token)
    except (BadSignature, ValueError, TypeError):
        raise InvalidInput("unsubscribe link is invalid or was altered", field="token") from None
    topic = str(rest[0]) if rest else None
    return UnsubscribeRequest(str(shop_id), str(customer_id), str(channel), str(category), topic)
