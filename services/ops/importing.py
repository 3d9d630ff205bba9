"""`kizuna import orders`: in the CLI's process, or (`--local`) in the local stack's.

With `--local` the CLI streams the file to `POST /_local/import/orders`; the stack spools it to a
temporary file and runs the same importer (`segmenter.importer.import_orders`) with the
same repository and publisher the segmenter's handlers use here. Their clients are
answered by moto in this process (`ops.local.moto_client.MotoDynamoDB`), so each of the
import's requests skips the HTTP round trip to the moto server, its request parsing and
response writing, and botocore's validation, serialisation and parsing. The writes, their
conditions and what is published are the importer's own, unchanged: a re-run is still a
duplicate, an interrupted import still resumes.

Progress and the outcome are JSON lines (`progress`, then `summary` or `error`), so the
CLI shows the same progress bar and summary as an import it runs itself.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

__all__ = ["FORMATS", "ImportRefused", "import_orders", "summary_json"]

FORMATS = ("shopify", "generic")


@dataclass(frozen=True)
class ImportRefused(Exception):
    """The file or shop cannot be used at all; nothing was written (CLI exit code 2)."""

    field: str
    message: str


def check_encoding(encoding: str) -> bool:
    """Whether Python knows the text encoding (checked before the upload is read)."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


def summary_json(summary: Any) -> dict[str, Any]:
    """An `ImportSummary` as JSON, with its first errors as the CLI prints them."""
    return {**summary.as_dict(), "errors": [str(e) for e in summary.errors]}


def import_orders(
    source: BinaryIO,
    fmt: str,
    shop_id: str,
    *,
    encoding: str = "utf-8-sig",
    max_errors: int = 20,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Import the CSV in `source` into the shop, as `kizuna import orders` does.

    Raises `ImportRefused` when the shop is unknown or the file cannot be read as `fmt`
    (before anything is written)."""
    from segmenter.bootstrap import build
    from segmenter.domain.order_import import ImportFormatError, decode_lines
    from segmenter.importer import ImportSummary
    from segmenter.importer import import_orders as run_import

    container = build()
    _, known = container.keys.get_key_and_shop(shop_id, "-")
    if known is None:
        message = f"no shop '{shop_id}' (create it with `kizuna shop create`)."
        raise ImportRefused("shop", message)

    def report(summary: ImportSummary) -> None:
        if progress is not None:
            progress({"bytes": source.tell(), "rows": summary.rows_read})

    try:
        summary = run_import(
            decode_lines(source, encoding),
            fmt,
            shop_id,
            container.profiles,
            container.publisher,
            max_errors=max_errors,
            progress=report,
        )
    except ImportFormatError as err:
        raise ImportRefused(err.field or "file", err.message) from None
    except LookupError:
        raise ImportRefused("encoding", f"unknown encoding '{encoding}'") from None
    return summary_json(summary)
