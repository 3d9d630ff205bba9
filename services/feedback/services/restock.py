"""Restock use cases: sign-ups (double opt-in for anonymous people), releases in waves
with early-access tokens, token verification, and the results of a release."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, get_args
from urllib.parse import urlencode, urlsplit, urlunsplit

from feedback.domain import restock as rd
from feedback.domain import tokens
from feedback.domain.restock import Release, RestockChannel, SignUp, SignUpStatus
from feedback.domain.restock_records import SkuSignups
from feedback.services.common import UseCase
from feedback.services.messages import message_request
from feedback.services.ports import RestockStore
from shared.adapters.dynamodb import Position
from shared.contracts.channels import CHANNELS, EMAIL, LINE, SMS
from shared.contracts.details import Category, MessageRecipient, OrderPlaced
from shared.contracts.envelope import EventEnvelope
from shared.errors import InvalidInput, NotFound
from shared.log import get_logger
from shared.scheduled import for_each_shop

_log = get_logger("kizuna.feedback.restock")
ACCESS_PARAM = "kizuna_access"


# ---------------------------------------------------------------------------- sign-ups


@dataclass(frozen=True)
class SignedUp:
    signup: SignUp
    created: bool
    """False when it collapsed into an existing sign-up."""


def _recipient(s: SignUp) -> MessageRecipient:
    return MessageRecipient(customer_id=s.recipient.customer_id, address=s.recipient.address)


@dataclass(frozen=True)
class SkuOverview:
    sku: str
    stock: int | None
    signups: dict[str, int]
    releases: list[Release]


@dataclass(frozen=True)
class SignupCustomerPage:
    sku: str
    status: SignUpStatus | None
    release: tuple[str, rd.ReleaseOutcome] | None
    customers: rd.SignupCustomers
    customer_ids: list[str]
    next_after: str | None


# ---------------------------------------------------------------------------- releases


@dataclass
class WaveResult:
    action: str
    notified: int = 0
    status: str = "open"
    reason: str = ""
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "notified": self.notified,
            "status": self.status,
            "reason": self.reason,
        }


# ---------------------------------------------------------------------------- access


@dataclass(frozen=True)
class Access:
    release: Release
    signup_id: str
    valid_until: datetime
    first_use: bool


def _signup_ids_of(sku: str, order: OrderPlaced) -> list[str]:
    """Every sign-up id the buyer could have: as the customer, or by their addresses."""
    customer = order.customer
    recipients: list[tuple[RestockChannel, rd.Recipient]] = [
        (ch, rd.Recipient(customer_id=customer.customer_id)) for ch in CHANNELS
    ]
    if customer.email:
        with contextlib.suppress(InvalidInput):
            recipients.append((EMAIL, rd.Recipient(address=rd.normalise_email(customer.email))))
    if customer.phone:
        with contextlib.suppress(InvalidInput):
            recipients.append((SMS, rd.Recipient(address=rd.normalise_phone(customer.phone))))
    if customer.line_user_id:
        recipients.append((LINE, rd.Recipient(address=customer.line_user_id)))
    return [rd.signup_id_for(sku, ch, r) for ch, r in recipients]


@dataclass(frozen=True)
class SkuListBackfill:
    shop_id: str
    skus: int
    """SKUs with sign-ups or with counts"""
    fixed: int
    """SKUs whose counts did not match their sign-ups, set now"""
    moved: int
    """SKUs a sign-up changed meanwhile, left for another run"""


class Restock(UseCase[RestockStore]):
    """Restock use cases: sign-ups, confirmation and unsubscribe, stock changes, release
    waves, early access and the purchases it led to."""

    def sign_up(
        self,
        shop_id: str,
        sku: str,
        channel: RestockChannel,
        *,
        customer_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        line_user_id: str | None = None,
        return_url: str | None = None,
        locale: str = "ja",
    ) -> SignedUp:
        """One sign-up per SKU, channel and address. A known customer is active at once; an
        anonymous address is pending and gets a confirmation request (transactional)."""
        rd.validate_sku(sku)
        recipient = rd.recipient_for(
            channel, customer_id=customer_id, email=email, phone=phone, line_user_id=line_user_id
        )
        incoming = rd.new_signup(
            shop_id,
            sku,
            channel,
            recipient,
            self.clock(),
            rd.validate_return_url(return_url),
            locale,
        )
        existing = self.repo.get_signup(shop_id, sku, incoming.signup_id)
        kept, write = rd.merge_signup(existing, incoming)
        if write:
            self.repo.put_signup(kept, existing)
        if kept.status == "pending":
            # Published again for a duplicate with the same request id: the messenger sends it
            # once, and a lost publish is made good by the storefront's retry.
            self.publisher.publish([self._confirmation_request(kept)])
        _log.info(
            "restock sign-up",
            extra={"sku": sku, "channel": channel, "status": kept.status, "written": write},
        )
        return SignedUp(kept, created=existing is None or existing.status == "unsubscribed")

    def _signup_token(self, purpose: tokens.Purpose, s: SignUp, hours: int | None) -> str:
        expires = self.clock() + timedelta(hours=hours) if hours else None
        return tokens.sign(self.secret, purpose, [s.shop_id, s.sku, s.signup_id], expires)

    def _unsubscribe_url(self, s: SignUp) -> str:
        return self.url(
            f"/f/restock/unsubscribe/{self._signup_token('restock-unsubscribe', s, None)}"
        )

    def _confirmation_request(self, s: SignUp) -> EventEnvelope:
        hours = self.settings.restock_confirm_hours
        confirm = self._signup_token("restock-confirm", s, hours)
        stamp = int(s.created_at.timestamp())
        return self._request_to(
            s,
            f"fb-restock-confirm:{s.signup_id}:{stamp}",
            "transactional",
            "restock_confirm",
            {"sku": s.sku, "confirm_url": self.url(f"/f/restock/confirm/{confirm}")},
            requested_by="feedback.restock.confirmation",
            expires_at=self.clock() + timedelta(hours=hours),
        )

    def _request_to(
        self,
        s: SignUp,
        request_id: str,
        category: Category,
        template: str,
        variables: dict[str, str],
        *,
        requested_by: str,
        expires_at: datetime,
    ) -> EventEnvelope:
        """A message request to a sign-up's address and locale, its unsubscribe link added
        to the template's variables."""
        return message_request(
            shop_id=s.shop_id,
            request_id=request_id,
            recipient=_recipient(s),
            channel=s.channel,
            category=category,
            template=template,
            variables={**variables, "unsubscribe_url": self._unsubscribe_url(s)},
            requested_by=requested_by,
            now=self.clock(),
            expires_at=expires_at,
            locale=s.locale,
        )

    def _signup_from_token(self, purpose: tokens.Purpose, token: str) -> SignUp:
        (shop_id, sku, signup_id), _ = tokens.read(
            self.secret, purpose, token, self.clock(), size=3
        )
        signup = self.repo.get_signup(shop_id, sku, signup_id)
        if signup is None:
            raise tokens.TokenInvalid("the link is invalid or was altered", field="token")
        return signup

    def read_confirmation(self, token: str) -> SignUp:
        """The sign-up a confirmation link is for (nothing changes: the page asks first)."""
        return self._signup_from_token("restock-confirm", token)

    def read_unsubscribe(self, token: str) -> SignUp:
        return self._signup_from_token("restock-unsubscribe", token)

    def confirm(self, token: str) -> SignUp:
        """Double opt-in: the owner of the address followed the signed link."""
        signup = self._signup_from_token("restock-confirm", token)
        confirmed = signup.confirm(self.clock())
        if confirmed is not signup:
            self.repo.put_signup(confirmed, signup)
        return confirmed

    def unsubscribe(self, token: str) -> SignUp:
        signup = self._signup_from_token("restock-unsubscribe", token)
        gone = signup.unsubscribe(self.clock())
        if gone is not signup:
            self.repo.put_signup(gone, signup)
        return gone

    def sku_overview(self, shop_id: str, sku: str) -> SkuOverview:
        """Sign-up counts by status (no addresses) and every release with its results."""
        rd.validate_sku(sku)
        counts = {"pending": 0, "active": 0, "unsubscribed": 0}
        for s in self.repo.signups_for(shop_id, sku):
            counts[s.status] += 1
        stock = self.repo.get_stock(shop_id, sku)
        return SkuOverview(
            sku, stock.quantity if stock else None, counts, self.repo.list_releases(shop_id, sku)
        )

    def signup_customers(
        self,
        shop_id: str,
        sku: str,
        status: SignUpStatus | None,
        release: tuple[str, rd.ReleaseOutcome] | None,
        limit: int,
        after: str | None,
    ) -> SignupCustomerPage:
        """A page of the customers behind one figure of `sku_overview`: a status count of
        the SKU's sign-ups, or (`release`: its id and outcome) a release's notified /
        clicked / purchased. A SKU nobody signed up for and no release named is a 404."""
        from shared.paging import page_after

        rd.validate_sku(sku)
        if release is not None:
            if status is not None:
                raise InvalidInput("give status or release_id, not both", field="status")
            found = self.repo.get_release(shop_id, sku, release[0])
            if found is None:
                raise NotFound(f"SKU {sku} has no release {release[0]}", field="release_id")
            told = self.repo.notifications(shop_id, found.release_id).values()
            who = rd.release_customers(told, release[1])
        else:
            signups = self.repo.signups_for(shop_id, sku)
            if not signups:
                raise NotFound(f"nobody signed up for SKU {sku}", field="sku")
            who = rd.signup_customers(signups, status)
        page, next_after = page_after(who.customer_ids, limit, after)
        return SignupCustomerPage(sku, status, release, who, page, next_after)

    def backfill_sku_list(self, shop_id: str) -> SkuListBackfill:
        """The SKU list's counts recounted from the sign-ups (sign-ups stored before the
        list existed are in no count; a later status move of one took it below zero).
        Each SKU is set only if its counts are still those read before the recount, so a
        sign-up meanwhile is never lost; running it again changes nothing."""
        before = self.repo.signup_counts(shop_id)
        statuses = get_args(SignUpStatus)
        want: dict[str, dict[str, int]] = {}
        for s in self.repo.scan_signups(shop_id):
            want.setdefault(s.sku, dict.fromkeys(statuses, 0))[s.status] += 1
        stale = {sku for sku, counts in before.items() if any(counts.values())}
        fixed = moved = 0
        for sku in sorted(set(want) | stale):
            counts = want.get(sku, dict.fromkeys(statuses, 0))
            if before.get(sku) == counts:
                continue
            if self.repo.set_signup_counts(shop_id, sku, counts, before.get(sku)):
                fixed += 1
            else:
                moved += 1
        return SkuListBackfill(shop_id, len(set(want) | set(before)), fixed, moved)

    def signup_skus(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[SkuSignups], Position | None]:
        """One page of the SKUs people signed up for, each with its sign-ups by status."""
        return self.repo.signup_skus(shop_id, limit, after)

    def on_inventory_changed(
        self,
        shop_id: str,
        event_id: str,
        at: datetime,
        sku: str,
        previous_quantity: int,
        quantity: int,
    ) -> dict[str, Any]:
        """Keep the latest stock; 0 → positive starts a release (first wave at once), back to 0
        ends the open one. Duplicates start nothing new; older events are ignored. An event
        whose SKU feedback cannot take is rejected (logged by ids) rather than retried forever."""
        try:
            rd.validate_sku(sku)
        except InvalidInput as err:
            _log.warning(
                "inventory event rejected",
                extra={"event_id": event_id, "shop": shop_id, "reason": err.message},
            )
            return {"rejected": "sku", "reason": err.message}
        release = None
        if rd.is_restock(previous_quantity, quantity):
            window = timedelta(hours=self.settings.restock_early_access_hours)
            release = rd.start_release(shop_id, event_id, sku, quantity, self.clock(), window)
        before = self.repo.get_stock(shop_id, sku)
        outcome = self.repo.record_stock(shop_id, sku, quantity, at, release)
        result: dict[str, Any] = {"sku": sku, "stock": outcome, "restocked": release is not None}
        if outcome == "stale":
            return result
        if release is not None:
            result["release_id"] = release.release_id
            result["wave"] = self.run_wave(shop_id, sku, release.release_id)
        elif quantity <= 0 and before is not None and before.release_id:
            result["wave"] = self.run_wave(shop_id, sku, before.release_id)
        return result

    def run_wave(self, shop_id: str, sku: str, release_id: str) -> dict[str, Any]:
        """One wave of a release, if due: stock is read first, the wave is claimed (a
        conditional write on the wave number, so overlapping runners never both send it), then
        up to stock x factor active sign-ups not yet told get an early-access message (oldest
        sign-ups first). `notified` counts requests to the messenger, once per sign-up. A
        runner that stops after its claim only moves the sign-ups it did not tell to the next
        wave (they are still untold)."""
        release = self.repo.get_release(shop_id, sku, release_id)
        if release is None:
            return WaveResult("end", status="missing", reason="unknown release").as_dict()
        now = self.clock()
        stock = self.repo.get_stock(shop_id, sku)
        decision = rd.next_wave(
            release, stock.quantity if stock else 0, now, self.settings.restock_wave_factor
        )
        if decision.action == "wait":
            return WaveResult("wait", status=release.status, reason=decision.reason).as_dict()
        if decision.action == "end":
            if release.status == "open":
                self.repo.update_release(
                    rd.end_release(release, decision.status, now), release.waves
                )
            _log.info(
                "restock release ended", extra={"release_id": release_id, "status": decision.status}
            )
            return WaveResult("end", status=decision.status, reason=decision.reason).as_dict()
        interval = timedelta(minutes=self.settings.restock_wave_interval_minutes)
        claimed = rd.claim_wave(release, now, interval)
        if not self.repo.update_release(claimed, release.waves):
            # Another runner took this wave (or ended the release) since it was read.
            return WaveResult("wait", status=release.status, reason="wave taken").as_dict()
        told = self.repo.notifications(shop_id, release_id)
        candidates = sorted(
            (
                s
                for s in self.repo.signups_for(shop_id, sku)
                if s.status == "active" and s.signup_id not in told
            ),
            key=lambda s: (s.confirmed_at or s.created_at, s.signup_id),
        )
        batch = candidates[: decision.size]
        if batch:
            # Published before the claims: a crash in between leaves them unclaimed, so a later
            # wave re-publishes the same request ids, which the messenger sends once.
            self.publisher.publish([self._early_access_request(claimed, s) for s in batch])
        notified = sum(1 for s in batch if self.repo.claim_notification(claimed, s, now))
        status = claimed.status
        if len(candidates) <= len(batch):
            status = "completed"
            self.repo.update_release(rd.end_release(claimed, status, now), claimed.waves)
        _log.info(
            "restock wave",
            extra={"release_id": release_id, "wave": claimed.waves, "notified": notified},
        )
        return WaveResult("send", notified=notified, status=status).as_dict()

    def _early_access_request(self, release: Release, s: SignUp) -> EventEnvelope:
        token = tokens.sign(
            self.secret,
            "early-access",
            [release.shop_id, release.sku, release.release_id, s.signup_id],
            release.early_access_until,
        )
        return self._request_to(
            s,
            f"fb-restock:{release.release_id}:{s.signup_id}",
            "marketing",
            "restock_early_access",
            {
                "sku": release.sku,
                "early_access_url": self.url(f"/f/restock/access/{token}"),
                "token": token,
                "valid_until": release.early_access_until.isoformat(),
            },
            requested_by="feedback.restock.early_access",
            expires_at=release.early_access_until,
        )

    def run_due_waves(self) -> dict[str, Any]:
        """The `restock-waves` schedule: every open release of every shop, one shop at a
        time: a shop whose wave fails is logged, retried once and named in the result, and
        the other shops' waves still go out (the failed one is due again next tick)."""
        by_shop: dict[str, list[tuple[str, str]]] = {}
        for shop_id, sku, release_id in self.repo.open_releases():
            by_shop.setdefault(shop_id, []).append((sku, release_id))

        def waves(shop_id: str) -> dict[str, Any]:
            return {
                release_id: self.run_wave(shop_id, sku, release_id)
                for sku, release_id in by_shop[shop_id]
            }

        run = for_each_shop("restock-waves", by_shop, waves)
        ran = {release: wave for shop in run.results.values() for release, wave in shop.items()}
        return {"releases": len(ran), "waves": ran, **run.report()}

    def verify_access(self, shop_id: str | None, token: str, sku: str | None = None) -> Access:
        """Check an early-access token (genuine, this shop's, not expired, for this SKU) and
        count the first use as the sign-up's click."""
        (token_shop, token_sku, release_id, signup_id), until = tokens.read(
            self.secret, "early-access", token, self.clock(), size=4
        )
        if shop_id is not None and token_shop != shop_id:
            raise tokens.TokenInvalid("the token is not for this shop", field="token")
        if sku is not None and sku != token_sku:
            raise InvalidInput(f"the token is for another SKU ({token_sku})", field="sku")
        release = self.repo.get_release(token_shop, token_sku, release_id)
        if release is None or until is None:
            raise tokens.TokenInvalid("the link is invalid or was altered", field="token")
        first = self.repo.mark_clicked(release, signup_id, self.clock())
        return Access(release, signup_id, until, first)

    def access_redirect(self, token: str) -> tuple[Access, str | None]:
        """The early-access link in a message: counts the click, leads to the product page
        the person signed up on (with the token, for the storefront to verify)."""
        access = self.verify_access(None, token)
        signup = self.repo.get_signup(access.release.shop_id, access.release.sku, access.signup_id)
        if signup is None or not signup.return_url:
            return access, None
        parts = urlsplit(signup.return_url)
        query = (parts.query + "&" if parts.query else "") + urlencode({ACCESS_PARAM: token})
        return access, urlunsplit(parts._replace(query=query))

    def on_order_placed(self, shop_id: str, order: OrderPlaced) -> dict[str, Any]:
        """An order of a released SKU within its early-access window, by someone who was told,
        counts as a purchase of that release (once per person and release)."""
        counted = []
        for sku in dict.fromkeys(item.sku for item in order.items):
            stock = self.repo.get_stock(shop_id, sku)
            if stock is None or not stock.release_id:
                continue
            release = self.repo.get_release(shop_id, sku, stock.release_id)
            if (
                release is None
                or not release.started_at <= order.placed_at < release.early_access_until
            ):
                continue
            ids = _signup_ids_of(sku, order)
            told = self.repo.get_notifications(shop_id, release.release_id, ids)
            if any(n.purchased_order for n in told.values()):
                continue
            for signup_id in ids:
                if signup_id in told and self.repo.mark_purchased(
                    release, signup_id, order.order_id, order.placed_at
                ):
                    counted.append(release.release_id)
                    break
        return {"order_id": order.order_id, "purchases_counted": len(counted)}
