"""Restock sign-ups and releases.

A sign-up asks to hear, on one channel, when a SKU is back. It comes from a known customer
(active at once; the messenger checks consent) or from an anonymous address, which stays
`pending` until its owner confirms a signed link (double opt-in). The same SKU, channel and
address always give the same sign-up id, so duplicates collapse into one.

A release starts when stock of a SKU goes from 0 to positive. Signed-up people are told in
waves sized to the stock (times a factor), stock is re-checked before each wave, and the
early-access window closes the release; each sign-up is notified at most once per release.

Pure domain: no AWS, no HTTP, no pydantic.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from feedback.domain.restock_records import Notification
from shared.contracts.channels import EMAIL, LINE, SMS, Channel
from shared.errors import Conflict, InvalidInput

RestockChannel = Channel
SignUpStatus = Literal["pending", "active", "unsubscribed"]
ReleaseStatus = Literal["open", "sold_out", "closed", "completed"]
"""open: waves go out; sold_out: stock ran out again; closed: the early-access window
ended; completed: every active sign-up was notified."""

MAX_SKU = 64
"""As the segmenter accepts them: a shop's SKUs may hold spaces, '/', '#' or Japanese."""
NOT_TEXT = frozenset({"Cc", "Cs"})
"""Control characters, and lone surrogates (which no store can encode)."""
SIGNUP_ID_PREFIX = "su-"
LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
ADDRESS_FIELD: dict[RestockChannel, str] = {
    EMAIL: "email",
    SMS: "phone",
    LINE: "line_user_id",
}


@dataclass(frozen=True)
class Recipient:
    """Who a sign-up reaches: a known customer, or an address on the sign-up's channel."""

    customer_id: str | None = None
    address: str | None = None
    """Normalised: lowercase email, E.164 phone, or LINE user id."""

    @property
    def key(self) -> str:
        return f"customer:{self.customer_id}" if self.customer_id else f"address:{self.address}"

    @property
    def anonymous(self) -> bool:
        return self.customer_id is None


def validate_sku(sku: str, field: str = "sku") -> str:
    """The SKUs the segmenter takes: 1-64 characters, none of them a control character
    (the storage layer encodes the rest, so no SKU can reach another SKU's records)."""
    if not 1 <= len(sku) <= MAX_SKU or any(unicodedata.category(ch) in NOT_TEXT for ch in sku):
        raise InvalidInput(
            f"SKU must be 1-{MAX_SKU} characters without control characters", field=field
        )
    return sku


def normalise_email(value: str, field: str = "email") -> str:
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise InvalidInput("not a valid email address", field=field) from None
    return str(result.normalized).lower()


def normalise_phone(value: str, region: str = "JP", field: str = "phone") -> str:
    """E.164 (`+819012345678`); national numbers are read as Japanese by default."""
    import phonenumbers  # with the first phone number, not at cold start

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise InvalidInput("not a valid phone number", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput("not a valid phone number", field=field)
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def recipient_for(
    channel: RestockChannel,
    *,
    customer_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    line_user_id: str | None = None,
) -> Recipient:
    """A known customer, or exactly the address that fits the channel."""
    given = {"email": email, "phone": phone, "line_user_id": line_user_id}
    wanted = ADDRESS_FIELD[channel]
    for name, value in given.items():
        if value is not None and name != wanted:
            raise InvalidInput(f"a {channel} sign-up takes no {name}", field=name)
    if customer_id is not None:
        if any(v is not None for v in given.values()):
            raise InvalidInput("give either customer_id or an address, not both", field=wanted)
        if not customer_id.strip():
            raise InvalidInput("customer_id is empty", field="customer_id")
        return Recipient(customer_id=customer_id)
    value = given[wanted]
    if value is None:
        raise InvalidInput(f"a {channel} sign-up needs customer_id or {wanted}", field=wanted)
    if channel == EMAIL:
        return Recipient(address=normalise_email(value))
    if channel == SMS:
        return Recipient(address=normalise_phone(value))
    if not LINE_USER_ID.match(value):
        raise InvalidInput("a LINE user id is 'U' and 32 hex digits", field="line_user_id")
    return Recipient(address=value)


def validate_return_url(url: str | None) -> str | None:
    """The storefront page the early-access link leads back to (http/https only)."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("return_url must be an absolute http(s) URL", field="return_url")
    return url


def signup_id_for(sku: str, channel: RestockChannel, recipient: Recipient) -> str:
    """The same SKU, channel and recipient always give the same id (no personal data in it)."""
    digest = hashlib.sha256(f"{sku}\n{channel}\n{recipient.key}".encode()).hexdigest()
    return f"{SIGNUP_ID_PREFIX}{digest[:32]}"


@dataclass(frozen=True)
class SignUp:
    shop_id: str
    signup_id: str
    sku: str
    channel: RestockChannel
    recipient: Recipient
    status: SignUpStatus
    created_at: datetime
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    return_url: str | None = None
    locale: str = "ja"

    def confirm(self, at: datetime) -> SignUp:
        if self.status == "unsubscribed":
            raise Conflict("this sign-up was unsubscribed; sign up again", field="token")
        if self.status == "active":
            return self
        return replace(self, status="active", confirmed_at=at)

    def unsubscribe(self, at: datetime) -> SignUp:
        if self.status == "unsubscribed":
            return self
        return replace(self, status="unsubscribed", unsubscribed_at=at)


def new_signup(
    shop_id: str,
    sku: str,
    channel: RestockChannel,
    recipient: Recipient,
    now: datetime,
    return_url: str | None = None,
    locale: str = "ja",
) -> SignUp:
    status: SignUpStatus = "pending" if recipient.anonymous else "active"
    return SignUp(
        shop_id=shop_id,
        signup_id=signup_id_for(sku, channel, recipient),
        sku=sku,
        channel=channel,
        recipient=recipient,
        status=status,
        created_at=now,
        confirmed_at=None if recipient.anonymous else now,
        return_url=return_url,
        locale=locale,
    )


def merge_signup(existing: SignUp | None, incoming: SignUp) -> tuple[SignUp, bool]:
    """(the sign-up to keep, whether it must be written). A duplicate collapses into the
    stored one; an unsubscribed one signed up again is a new opt-in: it starts over from
    now (pending if anonymous), so its confirmation is a new request, not a duplicate."""
    if existing is None or existing.status == "unsubscribed":
        return incoming, True
    if incoming.return_url and incoming.return_url != existing.return_url:
        return replace(existing, return_url=incoming.return_url), True
    return existing, False


@dataclass(frozen=True)
class Release:
    shop_id: str
    release_id: str
    sku: str
    started_at: datetime
    early_access_until: datetime
    stock_at_start: int
    status: ReleaseStatus = "open"
    waves: int = 0
    next_wave_at: datetime | None = None
    notified: int = 0
    """Sign-ups the messenger was asked to tell (once each), not messages delivered: the
    messenger may still drop a request (consent, frequency cap, a bounced address)."""
    clicked: int = 0
    purchased: int = 0
    ended_at: datetime | None = None


def release_id_for(event_id: str) -> str:
    """One release per `inventory.changed` event, whatever the retries."""
    return f"rel-{hashlib.sha256(event_id.encode()).hexdigest()[:24]}"


def is_restock(previous_quantity: int, quantity: int) -> bool:
    return previous_quantity <= 0 < quantity


def start_release(
    shop_id: str, event_id: str, sku: str, quantity: int, now: datetime, window: timedelta
) -> Release:
    return Release(
        shop_id=shop_id,
        release_id=release_id_for(event_id),
        sku=sku,
        started_at=now,
        early_access_until=now + window,
        stock_at_start=quantity,
        next_wave_at=now,
    )


def wave_size(stock: int, factor: float) -> int:
    """How many sign-ups one wave tells: the stock times the factor, at least one while
    there is stock (more people than items, since not everyone buys)."""
    if stock <= 0:
        return 0
    return max(1, math.ceil(stock * factor))


@dataclass(frozen=True)
class WaveDecision:
    action: Literal["send", "wait", "end"]
    size: int = 0
    status: ReleaseStatus = "open"
    reason: str = ""


def next_wave(release: Release, stock: int, now: datetime, factor: float) -> WaveDecision:
    """What to do for an open release now, given the latest known stock."""
    if release.status != "open":
        return WaveDecision("end", status=release.status, reason="release already ended")
    if now >= release.early_access_until:
        return WaveDecision("end", status="closed", reason="early-access window ended")
    if stock <= 0:
        return WaveDecision("end", status="sold_out", reason="sold out")
    if release.next_wave_at is not None and now < release.next_wave_at:
        return WaveDecision("wait", reason="next wave not due")
    return WaveDecision("send", size=wave_size(stock, factor))


def claim_wave(release: Release, now: datetime, interval: timedelta) -> Release:
    """The release with its next wave taken: stored (conditionally on the wave number read)
    before anyone is told, so of two runners only one sends a given wave, and the wave
    after it is due one interval later."""
    return replace(release, waves=release.waves + 1, next_wave_at=now + interval)


def end_release(release: Release, status: ReleaseStatus, now: datetime) -> Release:
    return replace(release, status=status, ended_at=now, next_wave_at=None)


# ---------------------------------------------------------------------------- drill-downs

ReleaseOutcome = Literal["notified", "clicked", "purchased"]


@dataclass(frozen=True)
class SignupCustomers:
    """Who is behind a sign-up or release figure: `signups` is the figure itself (sign-ups,
    some of them anonymous addresses that are nobody's customer id), `customer_ids` the
    distinct known customers among them, sorted."""

    signups: int
    customer_ids: list[str]


def signup_customers(signups: Iterable[SignUp], status: SignUpStatus | None) -> SignupCustomers:
    """The sign-ups a status count of the SKU counts (all statuses without one)."""
    picked = [s for s in signups if status is None or s.status == status]
    ids = {s.recipient.customer_id for s in picked if s.recipient.customer_id}
    return SignupCustomers(len(picked), sorted(ids))


def release_customers(
    notifications: Iterable[Notification], outcome: ReleaseOutcome
) -> SignupCustomers:
    """The sign-ups a release's notified / clicked / purchased figure counts."""
    picked = [
        n
        for n in notifications
        if outcome == "notified"
        or (outcome == "clicked" and n.clicked_at is not None)
        or (outcome == "purchased" and n.purchased_order is not None)
    ]
    ids = {n.customer_id for n in picked if n.customer_id}
    return SignupCustomers(len(picked), sorted(ids))
