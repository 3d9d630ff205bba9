"""What a pool id, a code and a signed pool's prefix look like, and how many codes one
upload takes: a module of their own, so the API's request bodies state them without
loading the coupon domain (its records) at a cold start."""

from __future__ import annotations

import re

POOL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
PREFIX = re.compile(r"^[A-Z0-9]{0,12}$")
MAX_UPLOAD = 1000
"""Codes per upload request (a bigger pool is uploaded in several requests)."""
