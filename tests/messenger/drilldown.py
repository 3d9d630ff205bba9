"""What the messenger's drill-down tests share (campaign, journey and week customers):
reading a drill-down page by page, checking its 422s, reading who a mail went to, the
journey world they drill into, and the backfill that makes the week tiles' partitions
read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from messenger.domain.week import week_of
from messenger.entrypoints import events as messenger_events
from ops.cli import app
from shared.clock import FixedClock
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from tests.conftest import Cloud, ShopKeys
from tests.messenger.journey_world import JourneyWorld, post_purchase, step_mails_world


def every_page(
    http: httpx.Client,
    url: str,
    auth: Mapping[str, str],
    numbers: tuple[str, ...],
    limit: int,
    **params: Any,
) -> tuple[dict[str, Any], list[str]]:
    """Every page of one drill-down, `limit` ids a page: the `numbers` (the same on every
    page, which it checks) and all its ids (each once, which it checks too)."""
    ids: list[str] = []
    cursor: str | None = None
    seen = set()
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = http.get(url, params=query, headers=dict(auth))
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["customer_ids"]) <= limit
        seen.add(tuple(body[n] for n in numbers))
        ids += body["customer_ids"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 1 and len(ids) == len(set(ids)), (seen, ids)
    return dict(zip(numbers, seen.pop(), strict=True)), ids


def names_what_is_wrong(
    http: httpx.Client,
    url: str,
    auth: Mapping[str, str],
    cases: Iterable[tuple[Mapping[str, Any], str]],
) -> None:
    """Each (parameters, field): the drill-down answers 422 naming that field."""
    for params, field in cases:
        r = http.get(url, params=dict(params), headers=dict(auth))
        assert r.status_code == 422, (params, r.text)
        assert field in {f["field"] for f in r.json()["error"]["fields"]}, (params, r.text)


def mail_of(raw: str) -> tuple[EmailMessage, str, str]:
    """(MIME, customer, html) of one sent mail, from its bytes alone."""
    mime = message_from_string(raw, policy=policy.default)
    assert isinstance(mime, EmailMessage)
    body = mime.get_body(preferencelist=("html",))
    assert body is not None
    return mime, str(mime["To"]).split("@")[0], str(body.get_content())


def recipients(world: JourneyWorld, step: str) -> set[str]:
    """Who a step's mail went to, read from the mail that left (its subject names it)."""
    out = set()
    for m in world.cloud.sent_mail():
        mime = message_from_string(m.raw_data, policy=policy.default)
        if str(mime["Subject"]).startswith(f"step-{step.removeprefix('mail-')}:"):
            out.add(str(mime["To"]).split("@")[0])
    return out


def engaged(world: JourneyWorld, kind: str, sent: EventEnvelope) -> dict[str, Any]:
    """`kind` (message.opened, message.clicked) of the mail `sent` announced, handled."""
    envelope = EventEnvelope(
        id=f"{kind}-{sent.id}",
        shop="acme",
        type=kind,
        time=world.clock.now,
        detail=details.MessageEngaged(
            delivery_id=sent.detail["delivery_id"],
            customer_id=sent.detail["customer_id"],
            channel="email",
        ).model_dump(mode="json"),
    )
    return messenger_events.handler({"detail": envelope.model_dump(mode="json")}, None)


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    """The post-purchase step mails as journey `drill`, half its entrants held out."""
    w = step_mails_world(cloud, shop)
    w.journey(post_purchase(journey_id="drill", holdout_percent=50, exit_events=[]))
    return w


def backfilled(
    clock: FixedClock, weeks_ago: int = 1, shop_id: str = "acme", mark: str = "whole_since"
) -> date:
    """`kizuna backfill --shop <shop_id>` run `weeks_ago` weeks before `clock` stands (a shop
    upgraded then): the Monday it marked the first whole week, the one after that run's
    (from then on the week tiles are read from their partitions; `mark` "campaigns_since":
    the campaigns' week figures from their counters)."""
    now = clock.now
    clock.now = now - timedelta(days=7 * weeks_ago)
    try:
        result = CliRunner().invoke(app, ["backfill", "--shop", shop_id])
        want = week_of(clock.now) + timedelta(days=7)
    finally:
        clock.now = now
    assert result.exit_code == 0, result.output
    since = date.fromisoformat(result.output.split(f"{mark} ")[1].split()[0].rstrip(","))
    assert since == want, (since, want)
    return since
