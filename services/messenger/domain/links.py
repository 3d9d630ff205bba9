"""Signed unsubscribe links: they work without a login, so the signature is the only
proof the link was ours. Tampered or foreign tokens are refused."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from shared.errors import InvalidInput

_SALT = "kizuna.unsubscribe.v1"


@dataclass(frozen=True)
class UnsubscribeRequest:
    shop_id: str
    customer_id: str
    channel: str
    category: str


def sign_unsubscribe(secret: str, req: UnsubscribeRequest) -> str:
    serializer = URLSafeSerializer(secret, salt=_SALT)
    return str(serializer.dumps([req.shop_id, req.customer_id, req.channel, req.category]))


def read_unsubscribe(secret: str, token: str) -> UnsubscribeRequest:
    serializer = URLSafeSerializer(secret, salt=_SALT)
    try:
        shop_id, customer_id, channel, category = serializer.loads(token)
    except (BadSignature, ValueError, TypeError):
        raise InvalidInput("unsubscribe link is invalid or was altered", field="token") from None
    return UnsubscribeRequest(str(shop_id), str(customer_id), str(channel), str(category))
