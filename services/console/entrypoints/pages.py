"""The console's own files: the page shell and its vendored assets, from this package.

Nothing is fetched from another host at run time: every script, style and message
catalogue is one of `ASSETS`, and the Content-Security-Policy lets the browser load
nothing else (`default-src 'self'`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from shared.errors import NotFound

STATIC = Path(__file__).resolve().parents[1] / "static"
PAGE = "index.html"
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "uplot.min.js": "text/javascript; charset=utf-8",
    "uplot.min.css": "text/css; charset=utf-8",
    "i18n/ja.json": "application/json",
    "i18n/en.json": "application/json",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
"""`style-src 'unsafe-inline'` only because uPlot sizes its canvas through style
attributes; scripts stay 'self' only."""


@cache
def read(name: str) -> bytes:
    """An asset's bytes (read once per warm container); an unknown name is a 404."""
    if name not in ASSETS and name != PAGE:
        raise NotFound("no such console asset", field="name")
    return (STATIC / name).read_bytes()
