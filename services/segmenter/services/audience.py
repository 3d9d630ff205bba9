"""Recommendations and audience exports for partner tools."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import datetime

from segmenter.adapters.repository import ProfileRepository
from segmenter.domain.recommend import Recommendation, build_model, recommend
from segmenter.services.ingest import get_profile
from segmenter.services.segments import member_profiles

CSV_COLUMNS = [
    "customer_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "f_stage",
    "rfm_rank",
    "revenue",
    "last_order_at",
]
HASHED_COLUMNS = ["email_sha256", "phone_sha256"]


def rebuild_recommendations(repo: ProfileRepository, shop_id: str, now: datetime) -> int:
    model = build_model(repo.iter_profiles(shop_id), now)
    repo.put_reco_model(shop_id, model)
    return len(model["best_sellers"])  # type: ignore[arg-type]


def recommendations_for(
    repo: ProfileRepository, shop_id: str, customer_id: str, limit: int
) -> list[Recommendation]:
    profile = get_profile(repo, shop_id, customer_id)
    model = repo.get_reco_model(shop_id) or {}
    candidates: set[str] = set(model.get("best_sellers", []))
    for skus in (model.get("co_purchased") or {}).values():
        candidates.update(skus)
    for skus in (model.get("by_category") or {}).values():
        candidates.update(skus)
    products = repo.get_products(shop_id, sorted(candidates))
    return recommend(
        profile,
        model,
        is_available=lambda sku: sku not in products or products[sku].in_stock,
        tags_of=lambda sku: products[sku].tags if sku in products else (),
        limit=limit,
    )


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalised_email(email: str) -> str:
    """Lower-cased and trimmed, as Google Customer Match and Meta expect before hashing."""
    return email.strip().lower()


def export_rows(
    repo: ProfileRepository, shop_id: str, segment_id: str, hashed: bool
) -> Iterator[str]:
    """A segment's members as CSV text, streamed page by page.

    Hashed exports hold only SHA-256 of the normalised email (trimmed, lower case) and of
    the phone in E.164 (with '+'), the customer-matching format of the ad platforms."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HASHED_COLUMNS if hashed else CSV_COLUMNS)
    for profile in member_profiles(repo, shop_id, segment_id):
        c = profile.contact
        if hashed:
            if not c.email and not c.phone:
                continue
            writer.writerow(
                [
                    sha256_hex(normalised_email(c.email)) if c.email else "",
                    sha256_hex(c.phone) if c.phone else "",
                ]
            )
        else:
            s = profile.stats
            writer.writerow(
                [
                    profile.customer_id,
                    c.email or "",
                    c.phone or "",
                    c.first_name or "",
                    c.last_name or "",
                    profile.f_stage,
                    profile.rfm.rank if profile.rfm else "",
                    str(s.revenue),
                    s.last_order_at.isoformat() if s.last_order_at else "",
                ]
            )
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
