"""The catalogue of built-in journeys, each enabled per shop with one call.

Enabling creates what the journey needs as ordinary shop data: its messages (ja and en,
mail, LINE and SMS; an existing message of the same id is kept, since the shop may have
edited it), the signed coupon pool it gives codes from, and the journey itself as
version 1. From then on it is the shop's journey: edited with a new version, paused,
resumed. Enabling again changes nothing (or resumes it if it was paused); disabling
pauses it (people inside wait; nobody new enters).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

from messenger.domain.coupons import CouponPool, PoolKind
from messenger.domain.journeys.builtins import (
    LOCALES,
    BuiltinJourney,
    BuiltinMessage,
    parse_sections,
    to_message,
)
from messenger.domain.journeys.definition import JourneyStatus
from messenger.services.coupons import Coupons
from messenger.services.journeys.definitions import JourneyDefinitions
from messenger.services.messages import MessageLibrary
from shared.errors import Conflict, NotFound

CATALOGUE_DIR = Path(__file__).resolve().parents[2] / "builtin_journeys"


@cache
def catalogue(root: Path = CATALOGUE_DIR) -> tuple[BuiltinJourney, ...]:
    """Every built-in, read once per process from its JSON file and templates."""
    found = []
    for path in sorted(root.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        messages = tuple(
            BuiltinMessage(
                message_id=message_id,
                name=str(spec["name"]),
                category=str(spec.get("category", "marketing")),
                recommendations=int(spec.get("recommendations", 0)),
                priority=int(spec.get("priority", 0)),
                locales={
                    loc: parse_sections(
                        (root / "templates" / f"{message_id}.{loc}.txt").read_text("utf-8"),
                        f"{message_id}.{loc}.txt",
                    )
                    for loc in LOCALES
                },
            )
            for message_id, spec in raw["messages"].items()
        )
        found.append(
            BuiltinJourney(
                name=path.stem,
                title=raw["title"],
                description=raw["description"],
                journey={**raw["journey"], "journey_id": path.stem},
                messages=messages,
                coupon_pool=raw.get("coupon_pool"),
            )
        )
    return tuple(found)


@dataclass(frozen=True)
class Enabled:
    name: str
    journey_id: str
    status: str
    version: int
    created: bool
    """False: it existed (enabling again changes nothing but a pause)."""
    messages_created: tuple[str, ...] = ()
    pool_created: str | None = None


@dataclass(frozen=True)
class BuiltinJourneys:
    definitions: JourneyDefinitions
    library: MessageLibrary
    coupons: Coupons
    clock: Callable[[], datetime]
    entries: tuple[BuiltinJourney, ...] = field(default_factory=catalogue)

    def get(self, name: str) -> BuiltinJourney:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise NotFound(f"no built-in journey {name!r}", field="name")

    def status(self, shop_id: str, name: str) -> str | None:
        head = self.definitions.repo.head(shop_id, self.get(name).name)
        return head.status if head else None

    def enable(self, shop_id: str, name: str) -> Enabled:
        entry = self.get(name)
        head = self.definitions.repo.head(shop_id, entry.name)
        if head is not None:
            if head.status == JourneyStatus.ARCHIVED:
                raise Conflict(
                    f"journey {entry.name!r} is archived; it cannot be enabled again",
                    field="name",
                )
            head = self.definitions.set_status(shop_id, entry.name, JourneyStatus.ACTIVE)
            return Enabled(entry.name, entry.name, head.status, head.version, created=False)
        created = []
        for m in entry.messages:
            if self.library.find(shop_id, m.message_id) is None:
                self.library.save(to_message(shop_id, m))
                created.append(m.message_id)
        pool_created = None
        spec = entry.coupon_pool
        if spec is not None and not self.coupons.has_pool(shop_id, spec["pool_id"]):
            self.coupons.create_pool(
                CouponPool(
                    shop_id=shop_id,
                    pool_id=spec["pool_id"],
                    name=spec["name"],
                    kind=PoolKind.SIGNED,
                    created_at=self.clock(),
                    prefix=spec.get("prefix", ""),
                    description=spec.get("description"),
                )
            )
            pool_created = spec["pool_id"]
        try:
            head, _ = self.definitions.create(shop_id, dict(entry.journey))
        except Conflict:  # a concurrent enable created it first
            head = self.definitions.head(shop_id, entry.name)
            return Enabled(entry.name, entry.name, head.status, head.version, created=False)
        return Enabled(
            entry.name,
            entry.name,
            head.status,
            head.version,
            created=True,
            messages_created=tuple(created),
            pool_created=pool_created,
        )

    def disable(self, shop_id: str, name: str) -> Enabled:
        """Pause it: nobody enters, people inside wait (resumed by enabling again)."""
        entry = self.get(name)
        head = self.definitions.set_status(shop_id, entry.name, JourneyStatus.PAUSED)
        return Enabled(entry.name, entry.name, head.status, head.version, created=False)
