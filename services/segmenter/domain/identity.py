"""Identity resolution: one person, whether they arrive by storefront id, email, phone
or LINE user id. Pure domain.

Each identifier is claimed by exactly one canonical customer id. An event that carries
identifiers owned by two different customers proves they are one person: the profiles
are merged into one survivor, and every identifier then points at it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from segmenter.domain.model import Contact


@dataclass(frozen=True, order=True)
class Identifier:
    kind: str  # ext (storefront id) | email | phone | line
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind}#{self.value}"

    @classmethod
    def from_key(cls, key: str) -> Identifier:
        kind, _, value = key.partition("#")
        return cls(kind, value)


def identifiers_of(customer_id: str | None, contact: Contact) -> list[Identifier]:
    """The identifiers an event carries, storefront id first (it is the strongest)."""
    found: list[Identifier] = []
    if customer_id:
        found.append(Identifier("ext", customer_id))
    if contact.email:
        found.append(Identifier("email", contact.email.strip().lower()))
    if contact.phone:
        found.append(Identifier("phone", contact.phone))
    if contact.line_user_id:
        found.append(Identifier("line", contact.line_user_id))
    return found


def new_customer_id() -> str:
    return f"k-{uuid.uuid4().hex[:20]}"


def resolve(
    identifiers: Iterable[Identifier],
    owners: Mapping[Identifier, str],
    new_id: Callable[[], str] = new_customer_id,
) -> str:
    """The canonical customer id for an event's identifiers.

    The owner of the storefront id wins, then the owner of the earliest identifier; with no
    owner at all the storefront id itself (or a new id) becomes the customer id.
    """
    ordered = list(dict.fromkeys(identifiers))
    if not ordered:
        raise ValueError("an event needs at least one identifier")
    owned = [owners[i] for i in ordered if i in owners]
    if owned:
        canonical = owned[0]
    elif ordered[0].kind == "ext":
        canonical = ordered[0].value
    else:
        canonical = new_id()
    return canonical
