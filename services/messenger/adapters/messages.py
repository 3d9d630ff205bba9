"""Stored messages and each shop's sending policy, in the messenger table.

- message  ``SHOP#<shop>`` / ``MSG#<message id>``: the definition as JSON (flex
           containers are deep JSON; a string keeps them exactly as written)
- policy   ``SHOP#<shop>`` / ``POLICY``

The policy's domain is imported with the first policy read or written: a cold start's
list of messages does not load it.
"""

from __future__ import annotations

import json
import time as time_module
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from messenger.channels.names import EMAIL, LINE, SMS
from messenger.domain.message import Coupon, EmailContent, LineContent, Message, SmsContent
from messenger.services.ports import MessageRepository
from shared.adapters.dynamodb import Position, from_item, key, partition_page, to_item
from shared.ttl_cache import TtlCache

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from messenger.domain.policy import ShopPolicy


def message_to_json(m: Message) -> dict[str, Any]:
    return {
        "message_id": m.message_id,
        "shop_id": m.shop_id,
        "name": m.name,
        "category": m.category,
        "priority": m.priority,
        EMAIL: vars(m.email) if m.email else None,
        LINE: (
            {
                "text": m.line.text,
                "flex": m.line.flex,
                "alt_text": m.line.alt_text,
                "quick_reply": [dict(item) for item in m.line.quick_reply],
            }
            if m.line
            else None
        ),
        SMS: vars(m.sms) if m.sms else None,
        "coupon": (
            {
                "code": m.coupon.code,
                "description": m.coupon.description,
                "expires_at": m.coupon.expires_at.isoformat() if m.coupon.expires_at else None,
            }
            if m.coupon
            else None
        ),
        "recommendations": m.recommendations,
        "send_at_active_hour": m.send_at_active_hour,
        "valid_for_seconds": (
            int(m.valid_for.total_seconds()) if m.valid_for is not None else None
        ),
        "created_at": m.created_at.isoformat() if m.created_at else None,
    }


def message_from_json(d: dict[str, Any]) -> Message:
    coupon = d.get("coupon")
    return Message(
        message_id=d["message_id"],
        shop_id=d["shop_id"],
        name=d["name"],
        category=d["category"],
        priority=int(d.get("priority", 0)),
        email=EmailContent(**d[EMAIL]) if d.get(EMAIL) else None,
        line=_line_content(d[LINE]) if d.get(LINE) else None,
        sms=SmsContent(**d[SMS]) if d.get(SMS) else None,
        coupon=(
            Coupon(
                code=coupon["code"],
                description=coupon.get("description"),
                expires_at=(
                    datetime.fromisoformat(coupon["expires_at"])
                    if coupon.get("expires_at")
                    else None
                ),
            )
            if coupon
            else None
        ),
        recommendations=int(d.get("recommendations", 0)),
        send_at_active_hour=bool(d.get("send_at_active_hour", False)),
        valid_for=(
            timedelta(seconds=int(d["valid_for_seconds"]))
            if d.get("valid_for_seconds") is not None
            else None
        ),
        created_at=datetime.fromisoformat(d["created_at"]) if d.get("created_at") else None,
    )


def policy_to_json(p: ShopPolicy) -> dict[str, Any]:
    return {
        "channel_order": list(p.channel_order),
        "cap_count": p.cap_count,
        "cap_window_seconds": int(p.cap_window.total_seconds()),
        "quiet_start": p.quiet_hours.start.isoformat(timespec="minutes"),
        "quiet_end": p.quiet_hours.end.isoformat(timespec="minutes"),
        "quiet_channels": sorted(p.quiet_hours.channels),
        "quiet_transactional": p.quiet_hours.transactional,
        "timezone": p.timezone,
        "max_attempts": p.max_attempts,
        "retry_base_seconds": int(p.retry_base.total_seconds()),
        "sender": (None if p.sender is None else vars(p.sender)),
        "tracking_url_template": p.tracking_url_template,
        "cap_exempt_topics": sorted(p.cap_exempt_topics),
    }


def policy_from_json(d: dict[str, Any]) -> ShopPolicy:
    from messenger.domain.policy import QuietHours, ShopPolicy
    from messenger.domain.sender import SenderIdentity

    return ShopPolicy(
        channel_order=tuple(d["channel_order"]),
        cap_count=int(d["cap_count"]),
        cap_window=timedelta(seconds=int(d["cap_window_seconds"])),
        quiet_hours=QuietHours(
            # A policy saved before offsets were refused: the wall-clock time is what counts.
            start=time.fromisoformat(d["quiet_start"]).replace(tzinfo=None),
            end=time.fromisoformat(d["quiet_end"]).replace(tzinfo=None),
            channels=frozenset(d["quiet_channels"]),
            transactional=bool(d.get("quiet_transactional", False)),
        ),
        timezone=d["timezone"],
        max_attempts=int(d.get("max_attempts", 5)),
        retry_base=timedelta(seconds=int(d.get("retry_base_seconds", 60))),
        sender=(SenderIdentity(**d["sender"]) if d.get("sender") else None),
        tracking_url_template=d.get("tracking_url_template"),
        # A policy saved before the field existed: the default exemption.
        cap_exempt_topics=frozenset(d.get("cap_exempt_topics", ShopPolicy.cap_exempt_topics)),
    )


class DynamoMessageRepository(MessageRepository):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def save(self, message: Message) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": f"SHOP#{message.shop_id}",
                    "sk": f"MSG#{message.message_id}",
                    "body": json.dumps(message_to_json(message), ensure_ascii=False),
                }
            ),
        )

    def get(self, shop_id: str, message_id: str) -> Message | None:
        response = self._client.get_item(
            TableName=self._table, Key=key(f"SHOP#{shop_id}", f"MSG#{message_id}")
        )
        item = response.get("Item")
        return message_from_json(json.loads(from_item(item)["body"])) if item else None

    def page(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[Message], Position | None]:
        items, last = partition_page(
            self._client,
            self._table,
            f"SHOP#{shop_id}",
            "MSG#",
            limit=limit,
            after=after,
        )
        return [message_from_json(json.loads(i["body"])) for i in items], last

    def policy(self, shop_id: str) -> ShopPolicy:
        response = self._client.get_item(
            TableName=self._table, Key=key(f"SHOP#{shop_id}", "POLICY")
        )
        item = response.get("Item")
        if item:
            return policy_from_json(json.loads(from_item(item)["body"]))
        from messenger.domain.policy import ShopPolicy

        return ShopPolicy()

    def save_policy(self, shop_id: str, policy: ShopPolicy) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": f"SHOP#{shop_id}",
                    "sk": "POLICY",
                    "body": json.dumps(policy_to_json(policy)),
                }
            ),
        )


class CachedMessageRepository(MessageRepository):
    """Message definitions and shop policies, reused for a short while in a warm
    container: they change rarely, and a send would otherwise read both every time.
    Saving through this repository refreshes its own copy at once; another container
    sees a change after at most `ttl` seconds."""

    def __init__(
        self,
        inner: MessageRepository,
        ttl: float = 60.0,
        monotonic: Callable[[], float] = time_module.monotonic,
    ) -> None:
        self._inner = inner
        self._messages: TtlCache[tuple[str, str], Message] = TtlCache(ttl, monotonic)
        self._policies: TtlCache[str, ShopPolicy] = TtlCache(ttl, monotonic)

    def save(self, message: Message) -> None:
        self._inner.save(message)
        self._messages.put((message.shop_id, message.message_id), message)

    def get(self, shop_id: str, message_id: str) -> Message | None:
        hit = self._messages.fresh((shop_id, message_id))
        if hit is not None:
            return hit.value
        found = self._inner.get(shop_id, message_id)
        if found is not None:
            self._messages.put((shop_id, message_id), found)
        return found

    def page(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[Message], Position | None]:
        return self._inner.page(shop_id, limit, after)

    def policy(self, shop_id: str) -> ShopPolicy:
        hit = self._policies.fresh(shop_id)
        if hit is not None:
            return hit.value
        found = self._inner.policy(shop_id)
        self._policies.put(shop_id, found)
        return found

    def save_policy(self, shop_id: str, policy: ShopPolicy) -> None:
        self._inner.save_policy(shop_id, policy)
        self._policies.put(shop_id, policy)


def _line_content(d: dict[str, Any]) -> LineContent:
    return LineContent(
        text=d.get("text"),
        flex=d.get("flex"),
        alt_text=d.get("alt_text"),
        quick_reply=tuple(d.get("quick_reply") or ()),
    )
