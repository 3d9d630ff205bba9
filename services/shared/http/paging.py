"""Opaque page cursors for every cursor-paged list route.

A cursor is what the previous page answered as `next_cursor`, passed back unchanged.
It is base64url JSON with a version tag, so anything else (a customer id typed by
hand, a truncated copy, garbage) is a 422 naming `cursor` instead of silently giving
the first page again.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Response

from shared.errors import InvalidInput

_VERSION = "k1"
NEXT_CURSOR_HEADER = "X-Next-Cursor"
"""Where a list route whose body is a bare JSON array puts its next cursor."""
MAX_CURSOR_LENGTH = 2048
DEFAULT_PAGE = 100
MAX_PAGE = 500

PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Items per page (1-{MAX_PAGE}).")]
PageCursor = Annotated[
    str | None,
    Query(
        description=f"The `{NEXT_CURSOR_HEADER}` header of the page before, as is; "
        "absent for the first page.",
    ),
]
PAGED_LIST: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page, as a JSON array. When more follow, the "
        f"`{NEXT_CURSOR_HEADER}` header holds the cursor of the next page (absent on "
        "the last page).",
        "headers": {
            NEXT_CURSOR_HEADER: {
                "description": "Pass as `cursor` to read the next page.",
                "schema": {"type": "string"},
            }
        },
    }
}
"""OpenAPI `responses` of a list route whose body is a bare array paged by header."""


@dataclass(frozen=True)
class Paging:
    """A list route's page: `limit` and `cursor` from the query, and the response whose
    `X-Next-Cursor` header names the page after it."""

    limit: int
    cursor: str | None
    response: Response

    @property
    def position(self) -> Any:
        """Where the page starts in storage (None for the first page)."""
        return decode_cursor(self.cursor, dict)

    def next(self, position: Any) -> None:
        """Name the page after this one (none after the last)."""
        set_next_cursor(self.response, position)


def _paging(
    response: Response, limit: PageLimit = DEFAULT_PAGE, cursor: PageCursor = None
) -> Paging:
    return Paging(limit, cursor, response)


Page = Annotated[Paging, Depends(_paging)]
"""The paging parameters of a list route paged by header (`responses=PAGED_LIST`)."""


def set_next_cursor(response: Response, position: Any) -> None:
    """Put the next page's cursor in the `X-Next-Cursor` header (none on the last page)."""
    if position is not None:
        response.headers[NEXT_CURSOR_HEADER] = encode_cursor(position)


def encode_cursor(position: Any) -> str:
    """The opaque cursor of a storage position (a string or a JSON object)."""
    raw = json.dumps([_VERSION, position], separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: type = str) -> Any:
    """The storage position a cursor stands for (None for the first page)."""
    if cursor is None:
        return None
    bad = InvalidInput("not a cursor this API gave out (pass it back as is)", field="cursor")
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise bad
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode())
    except (ValueError, UnicodeError, binascii.Error):
        raise bad from None
    if not (isinstance(decoded, list) and len(decoded) == 2 and decoded[0] == _VERSION):
        raise bad
    position = decoded[1]
    if not isinstance(position, kind) or (isinstance(position, str) and not position):
        raise bad
    if isinstance(position, dict) and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in position.items()
    ):
        raise bad
    return position
