"""The feedback service's ports, one per aggregate: surveys (with their responses and the
copy of segment membership results are read by) and restock (sign-ups, stock, releases).

`feedback.adapters.repository.DynamoFeedbackRepository` implements both on the one table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from shared.adapters.dynamodb import Position

if TYPE_CHECKING:  # annotations only: a cold start's list loads no restock domain
    from feedback.domain.records import SaveOutcome, SurveyHead
    from feedback.domain.restock import Release, SignUp
    from feedback.domain.restock_records import Notification, SkuSignups, Stock
    from feedback.domain.surveys import Response, StoredResponse, Survey


class SurveyStore:
    """Surveys and their versions, responses, and the copy of segment membership."""

    def list_surveys(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[SurveyHead], Position | None]:
        """One page of the shop's surveys by id, and where the next one starts."""
        raise NotImplementedError

    def get_survey(self, shop_id: str, survey_id: str, version: int | None = None) -> Survey | None:
        raise NotImplementedError

    def survey_versions(self, shop_id: str, survey_id: str) -> list[Survey]:
        raise NotImplementedError

    def put_survey_version(self, survey: Survey) -> None:
        """Store version N; refused (Conflict) unless the survey's latest is N-1."""
        raise NotImplementedError

    # responses
    def save_response(
        self, response: Response, preferences: dict[str, list[str]]
    ) -> tuple[SaveOutcome, StoredResponse | None]:
        raise NotImplementedError

    def get_response(self, shop_id: str, response_id: str) -> StoredResponse | None:
        raise NotImplementedError

    def responses(
        self,
        shop_id: str,
        survey_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Response]:
        raise NotImplementedError

    # segment membership copy
    def set_membership(
        self, shop_id: str, customer_id: str, segment_id: str, member: bool, at: datetime
    ) -> bool:
        raise NotImplementedError

    def segments_of(self, shop_id: str, customer_id: str) -> tuple[str, ...]:
        raise NotImplementedError


class RestockStore:
    """Sign-ups, stock, releases and their notifications."""

    # sign-ups
    def get_signup(self, shop_id: str, sku: str, signup_id: str) -> SignUp | None:
        raise NotImplementedError

    def put_signup(self, signup: SignUp, previous: SignUp | None) -> None:
        """Write the sign-up if it is still as `previous` (None: must not exist)."""
        raise NotImplementedError

    def signups_for(self, shop_id: str, sku: str) -> list[SignUp]:
        raise NotImplementedError

    def signup_skus(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[SkuSignups], Position | None]:
        """One page of the SKUs with sign-ups (by SKU), each with its counts per status."""
        raise NotImplementedError

    def signup_counts(self, shop_id: str) -> dict[str, dict[str, int]]:
        """Every SKU's stored counts per status (the SKU list), read consistently."""
        raise NotImplementedError

    def scan_signups(self, shop_id: str) -> Iterator[SignUp]:
        """Every sign-up of the shop, whatever its SKU (a scan: for a backfill)."""
        raise NotImplementedError

    def set_signup_counts(
        self, shop_id: str, sku: str, counts: dict[str, int], expected: dict[str, int] | None
    ) -> bool:
        """Replace the SKU's counts if they are still `expected` (None: no counts stored);
        False when a sign-up moved them meanwhile."""
        raise NotImplementedError

    # stock and releases
    def get_stock(self, shop_id: str, sku: str) -> Stock | None:
        raise NotImplementedError

    def record_stock(
        self, shop_id: str, sku: str, quantity: int, at: datetime, release: Release | None
    ) -> Literal["applied", "stale", "duplicate"]:
        """Latest stock (older events are ignored); with `release`, starts it atomically."""
        raise NotImplementedError

    def get_release(self, shop_id: str, sku: str, release_id: str) -> Release | None:
        raise NotImplementedError

    def list_releases(self, shop_id: str, sku: str) -> list[Release]:
        raise NotImplementedError

    def open_releases(self) -> list[tuple[str, str, str]]:
        """(shop, sku, release id) of every open release."""
        raise NotImplementedError

    def update_release(self, release: Release, read_waves: int) -> bool:
        """Store status and wave state if nobody ran a wave since it was read."""
        raise NotImplementedError

    def notifications(self, shop_id: str, release_id: str) -> dict[str, Notification]:
        raise NotImplementedError

    def get_notifications(
        self, shop_id: str, release_id: str, signup_ids: Sequence[str]
    ) -> dict[str, Notification]:
        raise NotImplementedError

    def claim_notification(self, release: Release, signup: SignUp, at: datetime) -> bool:
        """Record that the sign-up was told about the release (False: it already was)."""
        raise NotImplementedError

    def mark_clicked(self, release: Release, signup_id: str, at: datetime) -> bool:
        raise NotImplementedError

    def mark_purchased(self, release: Release, signup_id: str, order_id: str, at: datetime) -> bool:
        raise NotImplementedError


# ---------------------------------------------------------------------------- codecs


class PersonRecords:
    """What the feedback table holds under one customer id, moved to another."""

    def move_person(self, shop_id: str, from_customer: str, to_customer: str) -> dict[str, int]:
        """File the id's answers, sign-ups and notifications under `to_customer`;
        idempotent. How many items of each kind moved this time."""
        raise NotImplementedError

    def index_people(self, shop_id: str) -> tuple[int, int]:
        """Give the shop's items stored before the `person` index existed their index key
        (a Scan: an operator's one-off backfill). How many lacked it, and were indexed now."""
        raise NotImplementedError
