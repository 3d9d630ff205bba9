"""The segmenter's FastAPI dependencies, defined once for all its routers."""

from __future__ import annotations

from typing import Annotated

from segmenter.bootstrap import SegmenterContainer
from shared.http.app import CONTAINER

Container = Annotated[SegmenterContainer, CONTAINER]
"""A route's container, built on the first request of a warm Lambda."""
