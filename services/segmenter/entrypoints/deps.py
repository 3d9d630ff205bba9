"""The segmenter's FastAPI dependencies, defined once for all its routers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from shared.http.app import CONTAINER

if TYPE_CHECKING:
    from segmenter.bootstrap import SegmenterContainer

    Container = Annotated[SegmenterContainer, CONTAINER]
else:  # the composition root is imported with the first request, not at cold start
    Container = Annotated[Any, CONTAINER]
"""A route's container, built on the first request of a warm Lambda."""


def build() -> SegmenterContainer:
    """The service's container (the app's factory): imports the composition root."""
    from segmenter import bootstrap

    return bootstrap.build()
