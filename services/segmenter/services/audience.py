"""Audience exports for partner tools: a segment's members as CSV, plain or hashed."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator

from segmenter.domain.model import Profile

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


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalised_email(email: str) -> str:
    """Lower-cased and trimmed, as Google Customer Match and Meta expect before hashing."""
    return email.strip().lower()


def export_rows(members: Iterable[Profile], hashed: bool) -> Iterator[str]:
    """A segment's members as CSV text, streamed page by page.

    Hashed exports hold only SHA-256 of the normalised email (trimmed, lower case) and of
    the phone in E.164 (with '+'), the customer-matching format of the ad platforms."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HASHED_COLUMNS if hashed else CSV_COLUMNS)
    for profile in members:
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
