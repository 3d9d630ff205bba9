"""The post-purchase built-in on the real local stack (infra/template.yaml on moto):
enabled through the API, an order and its shipment from the storefront's endpoints,
EventBridge → SQS → the messenger, and `kizuna local clock advance` (POST /_local/clock)
moving time 35 days with the schedules firing on the way."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
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


def _customer() -> str:
    """A customer the step mails' 10 % holdout does not draw for order o-1."""
    return next(
        c
        for c in (f"cust-{i}" for i in range(100))
        if not held_out("post-purchase", enrolment_id("post-purchase", c, "k#o-1"), 10)
    )


def test_post_purchase_on_the_local_stack_with_clock_advance(stack: LocalStack) -> None:
    """Given the local stack with the post-purchase built-in enabled and the default cap
    When a first order is placed and ships, and the clock advances 35 days
    Then exactly 7 step mails reached the sandbox, each on its day after shipping, and a
    second order would have ended them (the journey's exit is order.placed)."""
    settings = get_settings()
    store = DynamoKeyStore(
        aws.client(aws.session(settings.aws_region), "dynamodb"), settings.platform_table
    )
    admin = create_shop(store, "journey-shop", "Journey Shop").token
    cid = _customer()
    with httpx.Client(base_url=stack.api_base_url, timeout=120) as http:
        crm = _key(http, admin, ["messages:send", "messages:read"])
        storefront = _key(http, admin, ["events:write"])
        r = http.post("/v1/journeys/builtins/post-purchase/enable", headers=crm)
        assert r.status_code == 200, r.text
        now = shared_clock.now()
        order: dict[str, Any] = {
            "event_id": "evt-o-1",
            "order_id": "o-1",
            "placed_at": now.isoformat(),
            "currency": "JPY",
            "total": "3980",
            "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980"}],
            "customer": {
                "customer_id": cid,
                "email": f"{cid}@example.jp",
                "last_name": "山田",
                "consents": [{"channel": "email", "granted": True, "source": "checkout"}],
            },
        }
        assert http.post("/v1/orders", json=order, headers=storefront).status_code == 201
        stack.drain(timeout=60)
        shipped = {
            "type": "order.shipped",
            "event_id": "ship-o-1",
            "order_id": "o-1",
            "at": now.isoformat(),
        }
        r = http.post("/v1/events/batch", json={"events": [shipped]}, headers=storefront)
        assert r.status_code < 300, r.text
        stack.drain(timeout=60)

        r = http.post("/_local/clock", json={"advance": "35d"}, timeout=1800)
        assert r.status_code == 200, r.text
        stack.drain(timeout=60)

        deliveries = http.get("/v1/deliveries", params={"customer_id": cid}, headers=crm).json()
    steps = sorted(
        (d["trigger"], datetime.fromisoformat(d["sent_at"]))
        for d in deliveries
        if d["trigger"].startswith("journey:post-purchase:") and d["status"] == "sent"
    )
    assert sorted(t for t, _ in steps) == sorted(
        f"journey:post-purchase:mail-{d}" for d in STEP_DAYS
    )
    for trigger, at in steps:
        day = int(trigger.rsplit("-", 1)[1])
        late = at - (now + timedelta(days=day))
        assert timedelta(0) <= late <= timedelta(hours=1), (day, late)
    mails = [m for m in stack.sandbox_messages() if m["channel"] == "mail"]
    assert len([m for m in mails if cid in str(m["to"])]) == 1 + 7  # the welcome, the series
