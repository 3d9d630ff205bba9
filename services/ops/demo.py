"""`make demo`: a synthetic shop loaded through the public HTTP API of the local stack.

Everything goes the way a storefront's calls would: HTTP → segmenter → EventBridge
(moto) → SQS → messenger handler → SES (moto). The summary reads results back through
the same API and the local sandbox.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from shared import clock as shared_clock

LAST_NAMES = ["Yamada", "Sato", "Suzuki", "Takahashi", "Tanaka", "Ito", "Watanabe", "Nakamura"]
FIRST_NAMES = ["Hanako", "Yui", "Aoi", "Sakura", "Haruto", "Ren", "Mei", "Sota", "Yuna", "Riko"]
CATALOG = [
    ("SERUM-30", "skincare", 3980),
    ("LOTION-150", "skincare", 2480),
    ("SHAMPOO-300", "haircare", 1980),
    ("OMEGA3-90", "supplements", 2800),
    ("BODY-MILK", "bodycare", 1680),
]
COST_SHARE = 0.35
"""Cost of goods as a share of the price: gives the demo a gross profit below revenue."""
TARGET_CPA = {"web": 2500, "app": 3500, "rakuten": 4500}
"""What each synthetic acquisition channel costs per new customer, to derive ad spend."""


@dataclass
class DemoCustomer:
    customer_id: str
    email: str
    first_name: str
    last_name: str
    opted_in: bool
    orders: int


def synthetic_customers(count: int, rng: random.Random) -> list[DemoCustomer]:
    customers = []
    for i in range(count):
        customers.append(
            DemoCustomer(
                customer_id=f"cust-{i + 1:04d}",
                email=f"customer{i + 1:04d}@example.jp",
                first_name=rng.choice(FIRST_NAMES),
                last_name=rng.choice(LAST_NAMES),
                opted_in=rng.random() < 0.7,
                orders=rng.choices([1, 2, 3, 4], weights=[55, 25, 12, 8])[0],
            )
        )
    return customers


def order_bodies(c: DemoCustomer, rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    start = now - timedelta(days=rng.randint(30, 700))
    bodies = []
    for n in range(c.orders):
        placed = start + timedelta(days=n * rng.randint(25, 90), hours=rng.randint(8, 22))
        lines = rng.sample(CATALOG, k=rng.randint(1, 2))
        items = [
            {
                "sku": sku,
                "category": cat,
                "quantity": 1,
                "unit_price": str(price),
                "unit_cost": str(round(price * COST_SHARE)),
            }
            for sku, cat, price in lines
        ]
        bodies.append(
            {
                "event_id": f"evt-{c.customer_id}-{n + 1}",
                "order_id": f"ord-{c.customer_id}-{n + 1}",
                "placed_at": min(placed, now).isoformat(),
                "currency": "JPY",
                "total": str(sum(price for _, _, price in lines)),
                "sales_channel": rng.choice(["web", "web", "app", "rakuten"]),
                "items": items,
                "customer": {
                    "customer_id": c.customer_id,
                    "email": c.email,
                    "first_name": c.first_name,
                    "last_name": c.last_name,
                    "consents": [{"channel": "email", "granted": True, "source": "checkout"}]
                    if c.opted_in
                    else [],
                },
            }
        )
    return bodies


HISTORY_CUSTOMERS = 700
"""Customers of the shop's past, imported before the live ones arrive: enough for the
nightly analytics pass to fit BG/NBD + Gamma-Gamma (it needs 500 with an order)."""
HISTORY_DAYS = 730
"""How far back their first orders go (the fit wants 180 days of history)."""
HISTORY_SEED = 2024
HISTORY_COLUMNS = (
    "order_id",
    "customer_id",
    "placed_at",
    "currency",
    "total",
    "sales_channel",
    "accepts_email_marketing",
    "shipped_at",
    "sku",
    "category",
    "quantity",
    "unit_price",
    "unit_cost",
)


def history_orders(count: int, rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """Past orders of `count` customers, drawn the way BG/NBD assumes they happen: each
    buys at her own Poisson rate (gamma across customers) and after each purchase drops
    out with her own probability (beta across customers), until today. Bodies shaped
    like the live ones (so `demo_ad_spend` counts them) without contact details: the
    history is imported, publishes `order.imported` and mails no one."""
    bodies: list[dict[str, Any]] = []
    for i in range(count):
        cid = f"hist-{i + 1:04d}"
        rate = rng.gammavariate(0.9, 1 / 12)  # purchases a week: one in ~13 weeks on average
        dropout = rng.betavariate(1.2, 3.5)
        channel = rng.choice(["web", "web", "app", "rakuten"])
        # Her own basket (favourite products, how many of each): spend varies more between
        # customers than between one's orders, as Gamma-Gamma assumes.
        favourites = rng.sample(CATALOG, k=2)
        quantity = rng.choices([1, 2, 3, 4], weights=[50, 30, 15, 5])[0]
        placed = now - timedelta(days=rng.uniform(14, HISTORY_DAYS), hours=rng.randint(0, 12))
        n = 0
        while placed < now:
            n += 1
            lines = favourites[: rng.choices([1, 2], weights=[80, 20])[0]]
            bodies.append(
                {
                    "order_id": f"ord-{cid}-{n}",
                    "placed_at": placed.isoformat(),
                    "total": str(sum(quantity * price for _, _, price in lines)),
                    "sales_channel": channel,
                    "items": [
                        {"sku": k, "category": c, "quantity": quantity, "unit_price": p}
                        for k, c, p in lines
                    ],
                    "customer": {"customer_id": cid},
                }
            )
            if rng.random() < dropout:
                break
            placed += timedelta(weeks=rng.expovariate(rate))
    return sorted(bodies, key=lambda b: str(b["placed_at"]))


def history_csv(bodies: list[dict[str, Any]], now: datetime) -> bytes:
    """The orders in Kizuna's generic import format (docs/import-format.md), one row per
    line item, shipped two days after they were placed."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HISTORY_COLUMNS)
    for body in bodies:
        placed = datetime.fromisoformat(str(body["placed_at"]))
        shipped = placed + timedelta(days=2)
        for item in body["items"]:
            price = int(item["unit_price"])
            writer.writerow(
                (
                    body["order_id"],
                    body["customer"]["customer_id"],
                    body["placed_at"],
                    "JPY",
                    body["total"],
                    body["sales_channel"],
                    "no",
                    shipped.isoformat() if shipped <= now else "",
                    item["sku"],
                    item["category"],
                    item["quantity"],
                    price,
                    round(price * COST_SHARE),
                )
            )
    return out.getvalue().encode()


def _import_history(
    console: Console, http: httpx.Client, bodies: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    """The shop's past through the local stack's batched import (`kizuna import orders
    --local`): the importer's summary line."""
    console.print(f"Importing {len(bodies)} past orders (kizuna import orders --local) ...")
    params = {"shop": "demo-shop", "format": "generic"}
    with http.stream(
        "POST", "/_local/import/orders", params=params, content=history_csv(bodies, now)
    ) as response:
        response.raise_for_status()
        for text in response.iter_lines():
            line = json.loads(text) if text.strip() else {}
            if "summary" in line:
                summary: dict[str, Any] = line["summary"]
                return summary
            if "error" in line:
                raise RuntimeError(f"the history import failed: {line['error']}")
    raise RuntimeError("the local stack closed the import before its summary")


def run_demo(console: Console, *, customers: int = 40, seed: int = 7) -> None:
    from ops.local.stack import LocalStack, find_template
    from ops.shops import open_shop
    from shared.settings import get_settings

    # The summary is the demo's output; per-request JSON logs would drown it.
    os.environ.setdefault("KIZUNA_LOG_LEVEL", "WARNING")
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    now = shared_clock.now()
    with tempfile.TemporaryDirectory(prefix="kizuna-demo-") as state:
        console.rule("[bold]Kizuna demo[/bold]")
        console.print("Starting the local stack from infra/template.yaml (moto server) ...")
        stack = LocalStack(find_template(), state_dir=Path(state), auto_schedule=False)
        stack.start()
        try:
            admin = open_shop(get_settings(), "demo-shop", "Kizuna Demo Shop").token
            with httpx.Client(base_url=stack.api_base_url, timeout=60) as http:
                _run(console, stack, http, admin, synthetic_customers(customers, rng), rng, now)
        finally:
            console.print("Stopping the local stack ...")
            stack.stop()
    console.rule("[bold green]demo finished[/bold green]")


def _key(http: httpx.Client, admin: str, name: str, scopes: list[str]) -> str:
    response = http.post(
        "/v1/admin/keys",
        json={"name": name, "scopes": scopes},
        headers={"Authorization": f"Bearer {admin}"},
    )
    response.raise_for_status()
    return str(response.json()["token"])


def _run(
    console: Console,
    stack: Any,
    http: httpx.Client,
    admin: str,
    people: list[DemoCustomer],
    rng: random.Random,
    now: datetime,
) -> None:
    storefront = _bearer(_key(http, admin, "storefront", ["events:write"]))
    reader = _bearer(_key(http, admin, "bi-tool", ["segments:read", "messages:read"]))
    # Its own seeded generator: the live customers' orders stay what they were.
    history = history_orders(HISTORY_CUSTOMERS, random.Random(HISTORY_SEED), now)  # noqa: S311
    imported = _import_history(console, http, history, now)
    bodies = sorted(
        (b for c in people for b in order_bodies(c, rng, now)), key=lambda b: str(b["placed_at"])
    )
    statuses: Counter[int] = Counter()
    with Progress(console=console) as progress:
        task = progress.add_task("Posting orders through POST /v1/orders", total=len(bodies))
        for body in bodies:
            statuses[http.post("/v1/orders", json=body, headers=storefront).status_code] += 1
            progress.advance(task)
    _post_batches(
        console,
        http,
        storefront,
        "Posting shipments and profiles through POST /v1/events/batch",
        _other_events(people, bodies, rng, now),
    )
    retry = http.post("/v1/orders", json=bodies[0], headers=storefront)
    bad = http.post("/v1/orders", json={**bodies[0], "total": "lots"}, headers=storefront)
    console.print("Waiting for EventBridge → SQS → messenger to settle ...")
    stack.drain(timeout=120)
    fired = {name: stack.fire_schedule(name) for name in stack.schedules()}

    table = _table("Ingest (storefront → segmenter)", "what", "result")
    table.add_row("orders posted", str(len(bodies)))
    table.add_row("201 created", str(statuses[201]))
    table.add_row(
        "same order retried", f"{retry.status_code} duplicate={retry.json()['duplicate']}"
    )
    field = bad.json()["error"]["fields"][0]["field"]
    table.add_row("bad order (total='lots')", f"{bad.status_code} field={field}")
    console.print(table)
    _print_history(console, history, imported)
    _print_profiles(console, http, reader, people)
    _print_segments(console, http, reader, fired)
    _print_headlines(console, http, admin, bodies + history, people, fired)
    _print_deliveries(console, http, reader)
    _send_autumn_sale(console, http, admin, stack, people)
    _print_feedback(console, http, admin, stack, people)
    sandbox = stack.sandbox_messages()
    _print_sandbox(console, sandbox)
    console.print(
        f"Welcome mails for the replayed history: {_welcome_mails(sandbox)} "
        "(first orders older than a day get none)."
    )
    _run_journeys(console, http, admin, stack, rng)
    _write_report(console, http, reader)
    console.print(f"Schedules fired: {', '.join(fired)}")
    console.print(
        f"Handler failures: {len(stack.failures())}; dead letters: {len(stack.dead_letters())}"
    )


REPORT_PATH = Path(".kizuna") / "demo-report.html"


def _print_history(
    console: Console, history: list[dict[str, Any]], imported: dict[str, Any]
) -> None:
    """What the import brought in: the past customers count among the shop's buyers in
    every table below but the profiles (which reads the live customers back)."""
    orders = Counter(str(b["customer"]["customer_id"]) for b in history)
    table = _table("Imported history (POST /_local/import/orders)", "what", "result")
    table.add_row("orders imported", str(imported["orders_imported"]))
    table.add_row("past customers", str(len(orders)))
    table.add_row("past customers with 2+ orders", str(sum(1 for n in orders.values() if n > 1)))
    table.add_row("past customers with 3+ orders", str(sum(1 for n in orders.values() if n > 2)))
    console.print(table)


def _welcome_mails(sandbox: list[dict[str, Any]]) -> int:
    """The first-purchase welcome mails in the sandbox (by their subject)."""
    return sum(
        1 for m in sandbox if m["channel"] == "mail" and "はじめてのご購入" in (m["subject"] or "")
    )


def _write_report(console: Console, http: httpx.Client, reader: dict[str, str]) -> None:
    """The static report (`kizuna report`) of the demo shop, read through the same routes
    with the demo's read-only key; its path is printed to open in any browser."""
    from ops import report

    def get(path: str) -> tuple[int, Any]:
        response = http.get(path, headers=reader)
        return response.status_code, response.json()

    html = report.render(report.collect("demo-shop", get), "ja", shared_clock.now())
    path = report.write(REPORT_PATH, html)
    console.print(f"Static report (kizuna report): {path}", soft_wrap=True)


def _other_events(
    people: list[DemoCustomer], orders: list[dict[str, Any]], rng: random.Random, now: datetime
) -> list[dict[str, Any]]:
    """Customer profiles (birthday, prefecture), shipments two days after each order, a
    cancellation, some product views and carts: what a storefront sends besides orders."""
    events: list[dict[str, Any]] = []
    prefectures = ["東京都", "大阪府", "神奈川県", "愛知県", "福岡県", "北海道"]
    for i, person in enumerate(people):
        customer: dict[str, Any] = {"customer_id": person.customer_id, "email": person.email}
        if i < 5:  # LINE friends
            digest = hashlib.sha256(person.email.encode()).hexdigest()
            customer["line_user_id"] = "U" + digest[:32]
            customer["consents"] = [{"channel": "line", "granted": True, "source": "line_friend"}]
        elif i < 10:  # SMS subscribers
            customer["phone"] = f"+81901234{5600 + i:04d}"
            customer["consents"] = [{"channel": "sms", "granted": True, "source": "sms_form"}]
        events.append(
            {
                "type": "customer.upserted",
                "event_id": f"cu-{person.customer_id}",
                "customer": customer,
                "birthday": _birthday(rng),
                "gender": rng.choice(["female", "female", "male", "unknown"]),
                "prefecture": rng.choice(prefectures),
            }
        )
    for order in orders[:-3]:
        shipped = datetime.fromisoformat(str(order["placed_at"])) + timedelta(days=2)
        events.append(
            {
                "type": "order.shipped",
                "event_id": f"ship-{order['order_id']}",
                "order_id": order["order_id"],
                "at": min(shipped, now).isoformat(),
            }
        )
    events.append(
        {
            "type": "order.cancelled",
            "event_id": f"cancel-{orders[-1]['order_id']}",
            "order_id": orders[-1]["order_id"],
            "at": now.isoformat(),
        }
    )
    for person in rng.sample(people, k=min(10, len(people))):
        sku, category, price = rng.choice(CATALOG)
        seen = (now - timedelta(hours=rng.randint(1, 72))).isoformat()
        events.append(
            {
                "type": "product.viewed",
                "event_id": f"view-{person.customer_id}",
                "customer": {"customer_id": person.customer_id},
                "sku": sku,
                "category": category,
                "viewed_at": seen,
            }
        )
        events.append(
            {
                "type": "cart.updated",
                "event_id": f"cart-{person.customer_id}",
                "customer": {"customer_id": person.customer_id},
                "cart_id": f"cart-{person.customer_id}",
                "updated_at": seen,
                "items": [{"sku": sku, "quantity": 1, "unit_price": str(price)}],
            }
        )
    return events


def _birthday(rng: random.Random) -> str:
    return f"{rng.randint(1960, 2002)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _post_batches(
    console: Console,
    http: httpx.Client,
    headers: dict[str, str],
    title: str,
    events: list[dict[str, Any]],
    size: int = 50,
) -> None:
    with Progress(console=console) as progress:
        task = progress.add_task(title, total=len(events))
        for start in range(0, len(events), size):
            chunk = events[start : start + size]
            response = http.post("/v1/events/batch", json={"events": chunk}, headers=headers)
            response.raise_for_status()
            progress.advance(task, len(chunk))


def _print_segments(
    console: Console, http: httpx.Client, reader: dict[str, str], fired: dict[str, Any]
) -> None:
    nightly = fired.get("NightlyRecompute") or {}
    ranks = (nightly.get("shops") or {}).get("demo-shop", {}).get("ranks", {})
    labels = {
        "loyal": "優良 loyal",
        "semi_loyal": "準優良 semi-loyal",
        "general": "一般 general",
        "dormant": "休眠 dormant",
    }
    table = _table("RFM ranks (nightly recompute)", "rank", "customers")
    for code, label in labels.items():
        table.add_row(label, str(ranks.get(code, 0)))
    console.print(table)
    listed = http.get("/v1/segments", headers=reader).json()
    table = _table("Segments (GET /v1/segments)", "segment", "name", "members")
    for segment in listed:
        if segment["member_count"]:
            table.add_row(segment["segment_id"], segment["name"], str(segment["member_count"]))
    console.print(table)


# ---------------------------------------------------------------------------- headlines

RANK_LABELS = {
    "new": "new (F1)",
    "repeat": "repeat (F2)",
    "loyal": "loyal (F3+)",
    "dormant": "dormant (181-365 days)",
    "lost": "lost (> 365 days)",
}


def _analytics(
    http: httpx.Client, headers: dict[str, str], report: str
) -> list[dict[str, Any]] | str:
    """A report's rows, or "not computed yet: <status>" while it answers 202."""
    response = http.get(f"/v1/analytics/{report}", headers=headers)
    if response.status_code == 202:
        return f"not computed yet: {response.json()['status']}"
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()["rows"]
    return rows


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"¥{value:,.0f}"


def demo_ad_spend(bodies: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Flat monthly spend per channel over the months the demo's customers were acquired
    in, sized so that each channel's CPA comes out near `TARGET_CPA`."""
    first: dict[str, str] = {}
    for body in bodies:  # sorted by placed_at: the first seen is the first order
        first.setdefault(str(body["customer"]["customer_id"]), str(body["sales_channel"]))
    acquired = Counter(first.values())
    start = min(str(b["placed_at"])[:7] for b in bodies)
    months = []
    year, month = int(start[:4]), int(start[5:7])
    while f"{year:04d}-{month:02d}" <= f"{now.year:04d}-{now.month:02d}":
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return [
        {
            "channel": channel,
            "month": m,
            "amount": str(round(TARGET_CPA.get(channel, 3000) * n / len(months), -2)),
        }
        for channel, n in sorted(acquired.items())
        for m in months
    ]


PARAM_LABELS = {"alpha": "α", "gamma": "γ", "log_likelihood": "log-likelihood"}


def _clv_answer(
    http: httpx.Client, reader: dict[str, str], fired: dict[str, Any], people: list[DemoCustomer]
) -> tuple[str, str]:
    """(where it came from, what it says): the BG/NBD parameters or the refusal, from the
    schedule results of the pass that fitted the shop, else from a profile."""
    for schedule in ("NightlyAnalytics", "NightlyRecompute"):
        result = ((fired.get(schedule) or {}).get("shops") or {}).get("demo-shop") or {}
        params = result.get("clv_params") or result.get("bgnbd")
        if isinstance(params, dict) and params:
            shown = ", ".join(
                f"{PARAM_LABELS.get(k, k)}={int(v) if k == 'n' else f'{float(v):.4g}'}"
                for k, v in params.items()
            )
            return schedule, shown
        if result.get("clv_refused"):
            return schedule, str(result["clv_refused"])
        if result.get("clv_scored"):
            return schedule, f"{result['clv_scored']} customers scored"
    for person in people:
        profile = http.get(f"/v1/customers/{person.customer_id}", headers=reader).json()
        if profile.get("order_count") and profile.get("clv"):
            clv = profile["clv"]
            return (
                f"GET /v1/customers/{person.customer_id}",
                f"p_alive={clv['p_alive']}, predicted_clv_365d={clv['predicted_clv_365d']}",
            )
    return "GET /v1/customers/{id}", "no clv on the profiles (no fit yet)"


def _print_headlines(
    console: Console,
    http: httpx.Client,
    admin: str,
    bodies: list[dict[str, Any]],
    people: list[DemoCustomer],
    fired: dict[str, Any],
) -> None:
    """The numbers a marketer looks at first, from GET /v1/analytics/{report} after the
    nightly analytics pass (fired above), with ad spend entered for the demo's channels."""
    analyst = _bearer(_key(http, admin, "analyst", ["segments:read", "segments:write"]))
    spend = demo_ad_spend(bodies, shared_clock.now())
    http.put("/v1/analytics/ad-spend", json={"entries": spend}, headers=analyst).raise_for_status()
    console.rule("[bold]Headline numbers (GET /v1/analytics/{report})[/bold]")

    table = _table("Repeat and predictive CLV", "what", "value")
    repeat = _analytics(http, analyst, "repeat")
    if isinstance(repeat, str):
        table.add_row("F2 rate (repeat)", repeat)
    else:
        f1 = next((r for r in repeat if r["from_stage"] == "F1"), None)
        if f1 is None or f1["rate"] is None:
            table.add_row("F2 rate (repeat)", "n/a (no buyers)")
        else:
            table.add_row(
                "F2 rate (repeat)",
                f"{f1['rate'] * 100:.1f}% ({f1['customers_to']} of {f1['customers_from']})",
            )
    source, answer = _clv_answer(http, analyst, fired, people)
    table.add_row(f"BG/NBD ({source})", answer)
    console.print(table)

    ltv = _analytics(http, analyst, "ltv")
    channels = _analytics(http, analyst, "channels")
    table = _table(
        "By acquisition channel (ltv, channels)",
        "channel",
        "new customers",
        "ad spend",
        "CPA",
        "365-day LTV",
        "payback month",
    )
    if isinstance(ltv, str) or isinstance(channels, str):
        pending = ltv if isinstance(ltv, str) else str(channels)
        table.add_row("(all)", pending, "", "", "", "")
    else:
        by_ltv = {r["key"]: r for r in ltv if r["dimension"] == "channel"}
        for row in channels:
            value = by_ltv.get(row["channel"], {})
            matured = value.get("customers_365d", 0)
            payback = row["payback_month"]
            table.add_row(
                row["channel"],
                str(row["new_customers"]),
                _money(row["ad_spend"]),
                _money(row["cpa"]),
                f"{_money(value.get('ltv_365d'))} ({matured} matured)",
                "not yet" if payback is None else f"month {payback}",
            )
    console.print(table)

    listed = _analytics(http, analyst, "list-analysis")
    forecast = _analytics(http, analyst, "forecast")
    if isinstance(listed, str) or isinstance(forecast, str):
        table = _table("Customers per rank", "rank", "customers")
        table.add_row("list-analysis", listed if isinstance(listed, str) else "ok")
        table.add_row("forecast", forecast if isinstance(forecast, str) else "ok")
    else:
        ahead = {r["state"]: r for r in forecast}
        month = next(iter(ahead.values()))["month"] if ahead else None
        counts = next((r for r in listed if r["month"] == month), listed[-1] if listed else {})
        table = _table(
            f"Customers per rank at the end of {counts.get('month', 'n/a')} "
            "(list-analysis) and in 3 months (forecast)",
            "rank",
            "customers",
            "in 3 months",
        )
        for state, label in (*RANK_LABELS.items(), ("total", "total")):
            nxt = ahead.get(state, {}).get("in_3_months")
            table.add_row(label, str(counts.get(state, 0)), "n/a" if nxt is None else f"{nxt:.1f}")
    console.print(table)


AUTUMN_SALE = {
    "message_id": "autumn-sale",
    "name": "秋の感謝祭 / Autumn sale",
    "email": {
        "subject": "{{ customer.last_name or 'お客' }}様へ 秋の感謝祭のご案内",
        "html": "<p>{{ customer.last_name or 'お客' }}様</p><p>いつもありがとうございます。"
        "秋の感謝祭を開催中です。<a href='https://shop.example.jp/sale'>セールを見る</a></p>",
        "text": "{{ customer.last_name or 'お客' }}様\nいつもありがとうございます。"
        "秋の感謝祭を開催中です。 https://shop.example.jp/sale",
    },
    "line": {"text": "秋の感謝祭を開催中です🍁 https://shop.example.jp/sale"},
    "sms": {"text": "秋の感謝祭を開催中です。https://shop.example.jp/sale"},
}


def _send_autumn_sale(
    console: Console, http: httpx.Client, admin: str, stack: Any, people: list[DemoCustomer]
) -> None:
    """One logical message, sent on each customer's channel: LINE first, then SMS, then mail.
    Quiet hours are switched off for the demo so it shows every channel whatever the time."""
    marketer = _bearer(_key(http, admin, "marketer", ["messages:send", "messages:read"]))
    policy = {"channel_order": ["line", "sms", "email"], "quiet_channels": []}
    http.put("/v1/messenger/policy", json=policy, headers=marketer).raise_for_status()
    http.post("/v1/messages", json=AUTUMN_SALE, headers=marketer).raise_for_status()
    outcomes: Counter[str] = Counter()
    for person in people[:15]:
        response = http.post(
            "/v1/messages/autumn-sale/sends",
            json={"customer_id": person.customer_id, "anchor": "2026-autumn"},
            headers=marketer,
        )
        response.raise_for_status()
        body = response.json()
        outcomes[f"{body['status']} {body['channel'] or body['reason'] or ''}".strip()] += 1
    stack.drain(timeout=120)
    table = _table("Autumn sale to 15 customers (POST /v1/messages/{id}/sends)", "outcome", "n")
    for outcome, n in sorted(outcomes.items()):
        table.add_row(outcome, str(n))
    console.print(table)


def _print_feedback(
    console: Console, http: httpx.Client, admin: str, stack: Any, people: list[DemoCustomer]
) -> None:
    """A survey answered by a dozen customers (one on the hosted page) and a restock release."""
    from ops.feedback_demo import run_survey_and_restock

    console.print("Running a survey and a restock release (feedback service) ...")
    result = run_survey_and_restock(
        http, admin, [p.customer_id for p in people[:12]], drain=lambda: stack.drain(timeout=120)
    )
    table = _table("Feedback: survey and restock release", "what", "result")
    table.add_row("survey responses", str(result["survey_responses"]))
    nps = result["nps"] or {}
    table.add_row("NPS", ", ".join(f"{k}={v}" for k, v in nps.items()))
    signups = result["signups"] or {}
    table.add_row("restock sign-ups", ", ".join(f"{k}={v}" for k, v in signups.items()))
    release = result["release"] or {}
    for key in ("status", "notified", "clicked", "purchased"):
        if key in release:
            table.add_row(f"release {key}", str(release[key]))
    console.print(table)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="right" if i == len(columns) - 1 else "left")
    return table


def _print_profiles(
    console: Console, http: httpx.Client, reader: dict[str, str], people: list[DemoCustomer]
) -> None:
    stages: Counter[str] = Counter()
    revenue = 0.0
    for person in people:
        profile = http.get(f"/v1/customers/{person.customer_id}", headers=reader).json()
        stages[profile["f_stage"] if profile["order_count"] < 3 else "F3+"] += 1
        revenue += float(profile["revenue"])
    table = _table("Profiles (GET /v1/customers/{id})", "F-stage", "customers")
    for stage in sorted(stages):
        table.add_row(stage, str(stages[stage]))
    table.add_row("total revenue", f"¥{revenue:,.0f}")
    console.print(table)


def _print_deliveries(console: Console, http: httpx.Client, reader: dict[str, str]) -> None:
    deliveries = http.get("/v1/deliveries", params={"limit": 500}, headers=reader).json()
    outcome = Counter((d["status"], d["skip_reason"] or "") for d in deliveries)
    table = _table("Welcome mail (GET /v1/deliveries)", "status", "reason", "customers")
    for (status, reason), n in sorted(outcome.items()):
        table.add_row(status, reason, str(n))
    console.print(table)


def _print_sandbox(console: Console, sandbox: list[Any]) -> None:
    table = _table(
        f"Sandbox: {len(sandbox)} message(s) that would have been sent", "channel", "to", "subject"
    )
    by_channel: dict[str, list[Any]] = {}
    for m in sandbox:
        by_channel.setdefault(m["channel"], []).append(m)
    for channel, messages in sorted(by_channel.items()):
        for m in messages[-2:]:
            table.add_row(channel, m["to"], (m.get("subject") or m.get("body") or "")[:60])
        table.add_row("", f"{len(messages)} {channel} in all", "")
    console.print(table)


JOURNEY_DAYS = 35
JOURNEY_PEOPLE = 14
FIRST_ORDERS = 8
"""Newcomers during the demo's month: the first place a first order, the rest leave carts."""
ADVANCE_SCHEDULES = frozenset({"JourneyDispatcher", "RestockWaves"})
"""What the demo's 35 days fire, every 12 hours: the journeys. The nightly recompute
(whose segment entries start the win-back) runs once at the end, and the analytics not
at all: 35 of each would only make the demo slow."""
LIMITED = "LIMITED-01"
"""A SKU sold out during the demo, viewed by people with carts, and restocked on day 10."""


def _advance(stack: Any, days: int) -> None:
    stack.advance_clock(timedelta(days=days), step=timedelta(hours=12), schedules=ADVANCE_SCHEDULES)
    stack.drain(timeout=120)


def _run_journeys(
    console: Console, http: httpx.Client, admin: str, stack: Any, rng: random.Random
) -> None:
    """The built-in journeys: enabled on the demo shop, fed a month's new activity (new
    first orders that ship, carts left or bought, second views), the clock advanced
    35 days, and what each journey sent with its lift against the holdout."""
    crm = _bearer(_key(http, admin, "crm", ["messages:send", "messages:read"]))
    storefront = _bearer(_key(http, admin, "storefront-2", ["events:write"]))
    names = [b["name"] for b in http.get("/v1/journeys/builtins", headers=crm).json()]
    for name in names:
        http.post(f"/v1/journeys/builtins/{name}/enable", headers=crm).raise_for_status()
    now = shared_clock.now()
    newcomers = [
        DemoCustomer(f"new-{i:03d}", f"new{i:03d}@example.jp", "花子", "山田", True, 1)
        for i in range(JOURNEY_PEOPLE)
    ]
    bodies = []
    for c in newcomers:
        body = order_bodies(c, rng, now)[0]
        body["placed_at"] = now.isoformat()
        bodies.append(body)
    for body in bodies[:FIRST_ORDERS]:  # first orders, shipped the same day
        http.post("/v1/orders", json=body, headers=storefront).raise_for_status()
    events: list[dict[str, Any]] = []
    for body in bodies[:FIRST_ORDERS]:
        events.append(
            {
                "type": "order.shipped",
                "event_id": f"jship-{body['order_id']}",
                "order_id": body["order_id"],
                "at": now.isoformat(),
            }
        )
    for body in bodies[FIRST_ORDERS:]:  # carts left, and products viewed twice
        cid = body["customer"]["customer_id"]
        events.append(
            {
                "type": "customer.upserted",
                "event_id": f"jcu-{cid}",
                "customer": body["customer"],
            }
        )
        events[-1]["birthday"] = (now + timedelta(days=3 + len(events) % 20)).strftime("1990-%m-%d")
        for n, sku in ((1, body["items"][0]["sku"]), (2, LIMITED)):
            events.append(
                {
                    "type": "product.viewed",
                    "event_id": f"jview-{cid}-{n}",
                    "customer": {"customer_id": cid},
                    "sku": sku,
                    "viewed_at": (now + timedelta(minutes=n)).isoformat(),
                }
            )
        events.append(
            {
                "type": "cart.updated",
                "event_id": f"jcart-{cid}",
                "customer": {"customer_id": cid},
                "cart_id": f"jcart-{cid}",
                "updated_at": now.isoformat(),
                "items": body["items"],
            }
        )
    sold_out = {"type": "inventory.changed", "event_id": "jinv-0", "sku": LIMITED, "quantity": 0}
    http.post("/v1/events", json=sold_out, headers=storefront).raise_for_status()
    stack.drain(timeout=60)
    console.print(
        f"First orders placed today, opted in: {FIRST_ORDERS}; "
        f"welcome mails in the sandbox: {_welcome_mails(stack.sandbox_messages())}."
    )
    _post_batches(console, http, storefront, "Posting a month's new activity", events)
    stack.drain(timeout=120)
    console.print(f"Advancing the clock {JOURNEY_DAYS} days (kizuna local clock advance) ...")
    started = time.monotonic()
    _advance(stack, 10)
    # Ten days in, some come back: a second order for a third of the first-time buyers
    # (it ends their step mails), and half the carts are bought.
    again = [
        b
        for i, b in enumerate(bodies)
        if (i < FIRST_ORDERS and i % 3 == 0) or (i >= FIRST_ORDERS and i % 2)
    ]
    later = shared_clock.now()
    for n, body in enumerate(again):
        repeat = {
            **body,
            "event_id": f"{body['event_id']}-again",
            "order_id": f"{body['order_id']}-again",
            "placed_at": (later + timedelta(minutes=n)).isoformat(),
        }
        http.post("/v1/orders", json=repeat, headers=storefront).raise_for_status()
    back = {"type": "inventory.changed", "event_id": "jinv-1", "sku": LIMITED, "quantity": 20}
    http.post("/v1/events", json=back, headers=storefront).raise_for_status()
    stack.drain(timeout=120)
    _advance(stack, JOURNEY_DAYS - 10)
    stack.fire_schedule("NightlyRecompute")  # who turned 休眠 on the way: the win-back
    stack.drain(timeout=120)
    stack.fire_schedule("JourneyDispatcher")
    console.print(f"... {time.monotonic() - started:.0f} s")
    table = _table(
        f"Built-in journeys after {JOURNEY_DAYS} days",
        "journey",
        "entered",
        "holdout",
        "sent",
        "converted",
        "conversion lift (95% CI)",
    )
    for name in names:
        stats = http.get(f"/v1/journeys/{name}/stats", headers=crm).json()
        lift = stats["lift"]["conversion"]
        shown = (
            ("n/a (no holdout yet)" if stats["holdout"] == 0 else "n/a (all held out)")
            if lift is None
            else f"{100 * lift['difference']:+.1f} pt "
            f"[{100 * (lift['ci95'][0] or 0):+.1f}, {100 * (lift['ci95'][1] or 0):+.1f}]"
        )
        table.add_row(
            name,
            str(stats["entered"]),
            str(stats["holdout"]),
            str(stats["sent"]),
            str(stats["converted"]),
            shown,
        )
    console.print(table)
