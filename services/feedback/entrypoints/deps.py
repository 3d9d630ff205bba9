"""The feedback service's FastAPI dependencies, defined once for all its routers."""

from __future__ import annotations

from typing import Annotated

from feedback.bootstrap import FeedbackContainer
from shared.http.app import CONTAINER

Container = Annotated[FeedbackContainer, CONTAINER]
"""A route's container, built on the first request of a warm Lambda."""
