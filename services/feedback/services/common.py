"""What every feedback use case shares: the publisher, the settings, the clock, and the
signed links it hands out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from shared.adapters.eventbridge import EventPublisher
    from shared.settings import Settings

Store = TypeVar("Store")


class UseCase(Generic[Store]):
    """A use case on its store (the narrow port it reads and writes)."""

    def __init__(
        self,
        repo: Store,
        publisher: EventPublisher,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.repo = repo
        self.publisher = publisher
        self.settings = settings
        self.clock = clock

    @property
    def secret(self) -> str:
        """The key the links' tokens are signed with."""
        return self.settings.signing_secret.get_secret_value()

    def url(self, path: str) -> str:
        """A public link to `path` on the hosted pages."""
        return self.settings.public_base_url.rstrip("/") + path
