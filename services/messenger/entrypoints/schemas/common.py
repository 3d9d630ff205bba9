"""What every group's bodies share: the base models (`In` refuses unknown fields, `Out`
reads a domain record, `CustomersPage` is a drill-down's page), id and topic patterns,
local times, durations in units."""

from __future__ import annotations

import re
from dataclasses import asdict, is_dataclass
from datetime import time, timedelta
from typing import Annotated, Any, Protocol, Self

from pydantic import BeforeValidator, ConfigDict, WithJsonSchema

from shared.http.paging import encode_cursor
from shared.http.types import Schema

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


def _local_time(value: Any) -> Any:
    """Quiet hours are wall-clock times in each person's own time zone: an offset
    ("21:00+09:00") has no meaning there and made every later send fail."""
    if isinstance(value, str) and not re.fullmatch(LOCAL_TIME_PATTERN, value):
        raise ValueError("a local time HH:MM or HH:MM:SS without a UTC offset, e.g. 21:00")
    if isinstance(value, time) and value.tzinfo is not None:
        raise ValueError("a local time without a UTC offset, e.g. 21:00")
    return value


LocalTime = Annotated[
    time,
    BeforeValidator(_local_time),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": LOCAL_TIME_PATTERN,
            "description": "Wall-clock time HH:MM[:SS], no UTC offset.",
            "examples": ["21:00"],
        }
    ),
]


class In(Schema):
    model_config = ConfigDict(extra="forbid")


class Out(Schema):
    """A response model read from the domain's records (`Model.model_validate(record)`).
    Fields named otherwise in the record read it through `validation_alias`; the answer
    and the OpenAPI keep the field's own name."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class CustomersPageSource(Protocol):
    """A service's page of the customers behind a count."""

    @property
    def count(self) -> int: ...
    @property
    def customer_ids(self) -> list[str]: ...
    @property
    def next_after(self) -> str | None: ...


class CustomersPage(Schema):
    """One page of the customers behind a count, the shape of every drill-down (as the
    segmenter's analytics cells share one): how many in all, this page's ids and the next
    page's cursor. A drill-down's body only adds the fields naming its count; `of` fills
    them by name from the service's page, so no drill-down writes its own mapper."""

    count: int
    """The customers listed (every page)."""
    customer_ids: list[str]
    next_cursor: str | None

    @classmethod
    def of(cls, found: CustomersPageSource) -> Self:
        named = {name: getattr(found, name) for name in cls.model_fields if name != "next_cursor"}
        after = found.next_after
        return cls(**named, next_cursor=encode_cursor(after) if after else None)


def plain(value: object) -> object:
    """A domain value object (a dataclass) as the JSON object it is answered as."""
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value


def in_units_of(unit: timedelta) -> BeforeValidator:
    """A domain duration (timedelta) answered as a number of `unit`s: hours, minutes."""
    seconds = unit.total_seconds()
    return BeforeValidator(lambda v: v.total_seconds() / seconds if isinstance(v, timedelta) else v)


Content = Annotated[dict[str, Any] | None, BeforeValidator(plain)]
