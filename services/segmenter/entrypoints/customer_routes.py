"""Segmenter HTTP API, customers: profiles, their orders, recommendations and rule
matches, and the person's rights (disclosure, erasure). A route group of `api.py`,
imported when a request first reaches its paths."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from segmenter.entrypoints.deps import Container
from segmenter.entrypoints.schemas import (
    OrderPublic,
    ProfilePublic,
    ProfilesPage,
    RecommendationPublic,
    RuleMatchesPublic,
    RuleMatchRequest,
)
from shared.http.deferred import deferred_router
from shared.http.paging import PAGED_LIST, Page, decode_cursor, encode_cursor
from shared.http.security import Admin, SegmentsReader

router = deferred_router(prefix="/v1/customers")

# Ids may hold "/" (Shopify's `gid://shopify/Customer/1`), so the id segments of these
# paths are `:path` (raw or %2F-encoded); the routes with a suffix come first.


@router.get("")
def list_customers(
    principal: SegmentsReader,
    c: Container,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> ProfilesPage:
    found, after = c.customers.page(principal.shop_id, limit, decode_cursor(cursor))
    return ProfilesPage(
        customers=[ProfilePublic.of(p) for p in found],
        next_cursor=encode_cursor(after) if after else None,
    )


@router.get("/{customer_id:path}/orders", responses=PAGED_LIST)
def get_customer_orders(
    customer_id: str,
    principal: SegmentsReader,
    c: Container,
    page: Page,
) -> list[OrderPublic]:
    """The customer's orders, oldest first, one page at a time (`X-Next-Cursor` →
    `cursor`)."""
    orders, after = c.customers.orders_page(
        principal.shop_id, customer_id, page.limit, page.position
    )
    page.next(after)
    return [OrderPublic.model_validate(o) for o in orders]


@router.get("/{customer_id:path}/recommendations")
def get_recommendations(
    customer_id: str,
    principal: SegmentsReader,
    c: Container,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[RecommendationPublic]:
    found = c.customers.recommendations(principal.shop_id, customer_id, limit)
    return [RecommendationPublic.model_validate(r) for r in found]


@router.post("/{customer_id:path}/matches")
def match_rules(
    customer_id: str, body: RuleMatchRequest, principal: SegmentsReader, c: Container
) -> RuleMatchesPublic:
    """Whether the customer's profile satisfies each rule now (one answer per rule): what
    the messenger asks before a journey lets someone in or sends them a step."""
    found = c.customers.matches(principal.shop_id, customer_id, body.rules, c.clock())
    return RuleMatchesPublic(customer_id=customer_id, matches=found)


@router.get("/{customer_id:path}/export")
def export_customer(customer_id: str, principal: Admin, c: Container) -> dict[str, Any]:
    """Disclosure (APPI 開示請求, GDPR access): everything the segmenter holds on the
    person, as stored: the profile, the profiles merged into it, the orders. The
    messenger and feedback services answer `/v1/messenger/customers/{id}/export` and
    `/v1/feedback/customers/{id}/export` for their part."""
    return {"service": "segmenter", **c.rights.export(principal.shop_id, customer_id)}


@router.get("/{customer_id:path}/erasure")
def get_erasure(customer_id: str, principal: Admin, c: Container) -> dict[str, Any]:
    """The segmenter's status of the person's erasure (who asked, when, what was removed;
    no personal data). Its `erasure_id` reads each other service's part:
    `/v1/messenger/erasures/{id}`, `/v1/feedback/erasures/{id}`."""
    return c.rights.erasure_of(principal.shop_id, customer_id).public()


@router.get("/{customer_id:path}")
def get_customer(customer_id: str, principal: SegmentsReader, c: Container) -> ProfilePublic:
    return ProfilePublic.of(c.customers.get(principal.shop_id, customer_id))


@router.delete("/{customer_id:path}", status_code=202)
def erase_customer(customer_id: str, principal: Admin, c: Container) -> dict[str, Any]:
    """Erasure (APPI, GDPR): the profile, identity claims and memberships are removed, the
    orders kept anonymised for the shop's statistics, and `customer.erased` asks every
    other service to forget the person. Repeating it is the same erasure (it resumes one
    a failure interrupted). Each service's status: `GET /v1/customers/{id}/erasure`."""
    return c.rights.erase(principal.shop_id, customer_id, principal.key_id).public()
