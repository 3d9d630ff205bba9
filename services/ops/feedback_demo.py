"""Demo step: a survey and a restock release over the demo shop, through the public HTTP
API only (the local stack routes `/v1/surveys`, `/v1/restock`, `/f/...` to feedback and
`/v1/events`, `/v1/orders` to the segmenter). Call it from `ops.demo` with the local
stack's client, the shop's admin token and `drain=stack.drain`."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared import clock as shared_clock

DEMO_SURVEY: dict[str, Any] = {
    "survey_id": "why-bought",
    "title": "ご購入のきっかけアンケート",
    "description": "今後の商品づくりとご案内のために、1分ほどでお答えください。",
    "questions": [
        {
            "id": "motive",
            "kind": "single",
            "text": "どなたのためにご購入されましたか?",
            "options": [
                {"id": "self", "label": "自分用", "preferences": {"motive": "self"}},
                {"id": "gift", "label": "ギフト", "preferences": {"motive": "gift"}},
                {"id": "family", "label": "家族用", "preferences": {"motive": "family"}},
            ],
        },
        {
            "id": "dislikes",
            "kind": "multiple",
            "text": "苦手なものはありますか?",
            "required": False,
            "options": [
                {"id": "fragrance", "label": "香料", "preferences": {"dislike": "fragrance"}},
                {"id": "alcohol", "label": "アルコール", "preferences": {"dislike": "alcohol"}},
            ],
        },
        {"id": "rating", "kind": "rating", "text": "使い心地はいかがですか?"},
        {"id": "nps", "kind": "nps", "text": "友人や家族にすすめたいと思いますか?"},
        {"id": "comment", "kind": "text", "text": "ご意見をお聞かせください", "required": False},
    ],
}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _key(http: httpx.Client, admin: str, name: str, scopes: list[str]) -> dict[str, str]:
    response = http.post(
        "/v1/admin/keys", json={"name": name, "scopes": scopes}, headers=_bearer(admin)
    )
    response.raise_for_status()
    return _bearer(str(response.json()["token"]))


def run_survey_and_restock(
    http: httpx.Client,
    admin_token: str,
    customer_ids: Sequence[str],
    *,
    drain: Callable[[], Any] = lambda: None,
    sku: str = "SERUM-30",
    seed: int = 7,
) -> dict[str, Any]:
    """Define a survey, answer it (API for most customers, the hosted page for one),
    read the results; sign customers up for a sold-out SKU, restock it, and place an
    order within the early-access window. Returns what the demo prints."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    admin = _bearer(admin_token)
    storefront = _key(http, admin_token, "feedback-storefront", ["feedback:write", "events:write"])
    reader = _key(http, admin_token, "feedback-bi", ["feedback:read"])

    # Survey: define it (again on a re-run is a 409, fine), answer it, read the results.
    created = http.post("/v1/surveys", json=DEMO_SURVEY, headers=admin)
    if created.status_code != 409:
        created.raise_for_status()
    people = list(customer_ids)
    answering = people[: max(1, len(people) // 2)]
    for customer_id in answering[1:]:
        answers: dict[str, Any] = {
            "motive": rng.choice(["self", "self", "gift", "family"]),
            "dislikes": rng.sample(["fragrance", "alcohol"], k=rng.choice([0, 0, 1, 2])),
            "rating": rng.choice([3, 4, 4, 5, 5]),
            "nps": rng.choice([4, 6, 7, 8, 9, 9, 10, 10]),
        }
        http.post(
            "/v1/surveys/why-bought/responses",
            json={
                "response_id": f"demo-{customer_id}",
                "customer_id": customer_id,
                "answers": answers,
            },
            headers=storefront,
        ).raise_for_status()
    # One customer answers on the hosted page, from the link a message would carry.
    link = http.post(
        "/v1/surveys/why-bought/links", json={"customer_id": answering[0]}, headers=storefront
    )
    link.raise_for_status()
    page = urlsplit(link.json()["url"]).path
    http.get(page).raise_for_status()
    http.post(
        page,
        content="version=1&q.motive=gift&q.dislikes=fragrance&q.rating=5&q.nps=10"
        "&q.comment=%E9%A6%99%E3%82%8A%E3%81%8C%E5%84%AA%E3%81%97%E3%81%84",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).raise_for_status()
    drain()  # survey.answered → segmenter profiles (preferences)
    results = http.get(
        "/v1/surveys/why-bought/results", params={"bucket": "day"}, headers=reader
    ).json()

    # Restock: known customers sign up for a sold-out SKU, one anonymous email too.
    signing = people[len(answering) :] or people
    now = shared_clock.now().strftime("%Y%m%d%H%M%S")
    stock = {"type": "inventory.changed", "sku": sku}
    http.post(
        "/v1/events",
        json={**stock, "event_id": f"demo-inv0-{now}", "quantity": 0},
        headers=storefront,
    ).raise_for_status()
    drain()
    for customer_id in signing:
        http.post(
            "/v1/restock/signups",
            json={
                "sku": sku,
                "channel": "email",
                "customer_id": customer_id,
                "return_url": f"https://shop.example.com/products/{sku}",
            },
            headers=storefront,
        ).raise_for_status()
    http.post(
        "/v1/restock/signups",
        json={"sku": sku, "channel": "email", "email": "visitor@example.jp"},
        headers=storefront,
    ).raise_for_status()
    # 0 → 3: a release starts; its first wave tells 3 x factor sign-ups at once.
    http.post(
        "/v1/events",
        json={**stock, "event_id": f"demo-inv1-{now}", "quantity": 3},
        headers=storefront,
    ).raise_for_status()
    drain()
    # The first signed-up customer buys within the early-access window.
    http.post(
        "/v1/orders",
        json={
            "event_id": f"demo-restock-order-{now}",
            "order_id": f"demo-restock-{now}",
            "placed_at": shared_clock.now().isoformat(),
            "currency": "JPY",
            "total": "3980",
            "items": [{"sku": sku, "quantity": 1, "unit_price": "3980"}],
            "customer": {"customer_id": signing[0]},
        },
        headers=storefront,
    ).raise_for_status()
    drain()
    overview = http.get(f"/v1/restock/skus/{sku}", headers=reader).json()
    nps = next(q for q in results["total"]["questions"] if q["kind"] == "nps")["nps"]
    return {
        "survey_responses": results["total"]["responses"],
        "nps": nps,
        "signups": overview["signups"],
        "release": overview["releases"][-1] if overview["releases"] else None,
    }
