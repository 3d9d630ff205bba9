"""A shop's sender identity: its own module, so the composition root can state the
platform's without loading the sending policy (a cold start's list does not need it).
Pure domain: no AWS, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import InvalidInput


@dataclass(frozen=True)
class SenderIdentity:
    """Who a shop's mail comes from. Japan's 特定電子メール法 wants the sender's name,
    address and a contact in every marketing mail, so each shop states its own; the
    platform's identity is only the fallback for shops that have not set one."""

    name: str
    email: str
    postal_address: str

    def validate(self) -> None:
        for name, value, limit in (
            ("sender.name", self.name, 100),
            ("sender.postal_address", self.postal_address, 300),
        ):
            if not value.strip():
                raise InvalidInput(f"{name} must not be empty", field=name)
            if len(value) > limit or any(ord(c) < 32 for c in value):
                raise InvalidInput(f"{name} is at most {limit} characters on one line", field=name)
        local, at, domain = self.email.rpartition("@")
        if not at or not local or "." not in domain:
            raise InvalidInput("sender.email is not an email address", field="sender.email")
