"""The post-purchase built-in on the real local stack (infra/template.yaml on moto):
enabled through the API, an order and its shipment from the storefront's endpoints,
EventBridge → SQS → the messenger, and `kizuna local clock advance` (POST /_local/clock)
moving time 35 days with the schedules firing on the way."""

from __future__ import annotations

import email
import email.policy
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from messenger.domain.journeys.plan import enrolment_id, held_out
from ops.local.stack import LocalStack, find_template
from shared import aws
from shared import clock as shared_clock
from shared.auth.service import create_shop
from shared.auth.store import DynamoKeyStore
from shared.settings import get_settings

pytestmark = pytest.mark.e2e
STEP_DAYS = (1, 3, 5, 7, 14, 21, 30)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    for name in [k for k in os.environ if k.startswith(("AWS_", "KIZUNA_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KIZUNA_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    with tempfile.TemporaryDirectory(prefix="kizuna-journeys-") as state:
        local = LocalStack(find_template(), state_dir=Path(state), auto_schedule=False)
        local.start()
        try:
            yield local
        finally:
            local.stop()
            get_settings.cache_clear()


def _key(http: httpx.Client, admin: str, scopes: list[str]) -> dict[str, str]:
    r = http.post(
        "/v1/admin/keys",
        json={"name": "-".join(scopes), "scopes": scopes},
        headers={"Authorization": f"Bearer {admin}"},
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _customers(order_id: str, n: int) -> list[str]:
    """Customers the step mails' 10 % holdout does not draw for their order `order_id`."""
    return [
        c
        for c in (f"cust-{i}" for i in range(100))
        if not held_out("post-purchase", enrolment_id("post-purchase", c, f"k#{order_id}"), 10)
    ][:n]


def _order(order_id: str, cid: str, placed_at: datetime, *skus: str) -> dict[str, Any]:
    return {
        "event_id": f"evt-{order_id}",
        "order_id": order_id,
        "placed_at": placed_at.isoformat(),
        "currency": "JPY",
        "total": str(3980 * len(skus)),
        "items": [{"sku": s, "quantity": 1, "unit_price": "3980"} for s in skus],
        "customer": {
            "customer_id": cid,
            "email": f"{cid}@example.jp",
            "last_name": "山田",
            "consents": [{"channel": "email", "granted": True, "source": "checkout"}],
        },
    }


RECOMMENDED = "あわせてご覧ください"
"""What the step mails' recommendation block starts with (pp-day-14/21/30, ja)."""


def _recommended(raw: str) -> list[str]:
    """The lines (`- <item>`) of a mail's recommendation block, from its MIME bytes."""
    parsed = email.message_from_bytes(raw.encode(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body(preferencelist=("plain",))
    text = str(part.get_content()) if part is not None else ""
    _, found, block = text.partition(RECOMMENDED)
    return [line[2:] for line in block.splitlines() if line.startswith("- ")] if found else []


def test_post_purchase_on_the_local_stack_with_clock_advance(stack: LocalStack) -> None:
    """Given the local stack with the post-purchase built-in enabled and the default cap,
    and other buyers who bought the serum, alone or with a lotion
    When two first orders of the serum are placed and ship, the clock advances 4 days,
    the second buyer orders again, and the clock advances to day 35
    Then exactly 7 step mails reached the first buyer, each on its day after shipping,
    and from day 14 their recommendations hold the lotion and never the serum they
    bought (the best seller); the second buyer got the mails of days 1 and 3 only."""
    settings = get_settings()
    store = DynamoKeyStore(
        aws.client(aws.session(settings.aws_region), "dynamodb"), settings.platform_table
    )
    admin = create_shop(store, "journey-shop", "Journey Shop").token
    (cid,) = _customers("o-1", 1)
    (again,) = [c for c in _customers("o-2", 5) if c != cid][:1]
    with httpx.Client(base_url=stack.api_base_url, timeout=120) as http:
        crm = _key(http, admin, ["messages:send", "messages:read"])
        storefront = _key(http, admin, ["events:write"])
        r = http.post("/v1/journeys/builtins/post-purchase/enable", headers=crm)
        assert r.status_code == 200, r.text
        now = shared_clock.now()
        baskets = [("SERUM-30", "LOTION-150"), ("SERUM-30", "LOTION-150"), ("SERUM-30",)]
        orders = [
            _order(f"b-{i}", f"buyer-{i}", now - timedelta(days=40), *basket)
            for i, basket in enumerate(baskets)
        ]
        orders += [_order("o-1", cid, now, "SERUM-30"), _order("o-2", again, now, "SERUM-30")]
        for order in orders:
            assert http.post("/v1/orders", json=order, headers=storefront).status_code == 201
        stack.drain(timeout=60)
        shipped = [
            {"type": "order.shipped", "event_id": f"ship-{o}", "order_id": o, "at": now.isoformat()}
            for o in ("o-1", "o-2")
        ]
        r = http.post("/v1/events/batch", json={"events": shipped}, headers=storefront)
        assert r.status_code < 300, r.text
        stack.drain(timeout=60)

        r = http.post("/_local/clock", json={"advance": "4d"}, timeout=1800)
        assert r.status_code == 200, r.text
        second = _order("o-3", again, shared_clock.now(), "LOTION-150")
        assert http.post("/v1/orders", json=second, headers=storefront).status_code == 201
        stack.drain(timeout=60)
        r = http.post("/_local/clock", json={"advance": "31d"}, timeout=1800)
        assert r.status_code == 200, r.text
        stack.drain(timeout=60)

        def series(customer_id: str) -> list[tuple[str, datetime, str]]:
            found = http.get(
                "/v1/deliveries", params={"customer_id": customer_id}, headers=crm
            ).json()
            return sorted(
                (d["trigger"], datetime.fromisoformat(d["sent_at"]), d["delivery_id"])
                for d in found
                if d["trigger"].startswith("journey:post-purchase:") and d["status"] == "sent"
            )

        steps, stopped = series(cid), series(again)
    assert sorted(t for t, _, _ in steps) == sorted(
        f"journey:post-purchase:mail-{d}" for d in STEP_DAYS
    )
    for trigger, at, _ in steps:
        day = int(trigger.rsplit("-", 1)[1])
        late = at - (now + timedelta(days=day))
        assert timedelta(0) <= late <= timedelta(hours=1), (day, late)
    assert [t for t, _, _ in stopped] == [
        "journey:post-purchase:mail-1",
        "journey:post-purchase:mail-3",
    ]
    mails = [m for m in stack.sandbox_messages() if m["channel"] == "mail"]
    mine = [m for m in mails if cid in str(m["to"])]
    assert len(mine) == 1 + 7  # the welcome, the series
    recommended = [items for items in (_recommended(str(m["raw"])) for m in mine) if items]
    assert len(recommended) >= 3, recommended  # days 14, 21 and 30
    for items in recommended:
        assert not any("SERUM-30" in i for i in items), items
        assert any("LOTION-150" in i for i in items), items
