"""The segment rule language: JSON in, a validated and typed `Rule` out.

Rules arrive from marketers through the API and are stored as JSON, so every refusal names
the node at fault (`all[2].value`) for a 4xx that says what to fix. Parsing does all the
checking and converting once (ISO dates to datetimes, lists to sets), so evaluation is
cheap enough to run on every event.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType

from shared.errors import InvalidInput

from .facts import (
    ACTIVITY_HISTORY_DAYS,
    ACTIVITY_KINDS,
    FieldType,
    field_type,
    stored_field,
)

MAX_DEPTH = 10
MAX_NODES = 200
MAX_LIST_ITEMS = 500
MAX_TEXT = 256
MAX_DAYS = 36_500
MAX_COUNT = 100_000


class RuleError(InvalidInput):
    """A rule the engine refuses; `path` points at the offending node, e.g. `all[2].value`."""

    code = "invalid_rule"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '<rule>'}: {message}", field=path or None)
        self.path = path
        self.reason = message


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    CONTAINS_ANY = "contains_any"
    CONTAINS_ALL = "contains_all"
    EXISTS = "exists"
    NOT_EXISTS = "not_exists"
    OLDER_THAN_DAYS = "older_than_days"
    WITHIN_LAST_DAYS = "within_last_days"
    WITHIN_NEXT_DAYS = "within_next_days"
    ANNIVERSARY_WITHIN_DAYS = "anniversary_within_days"


_PRESENCE = {Op.EXISTS, Op.NOT_EXISTS}
_ORDER = {Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN}
_RELATIVE = {Op.OLDER_THAN_DAYS, Op.WITHIN_LAST_DAYS}

OPS_BY_TYPE: Mapping[FieldType, frozenset[Op]] = MappingProxyType(
    {
        FieldType.NUMBER: frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, *_ORDER, *_PRESENCE}),
        FieldType.STRING: frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.CONTAINS, *_PRESENCE}),
        FieldType.BOOL: frozenset({Op.EQ, Op.NE, *_PRESENCE}),
        FieldType.SET: frozenset({Op.CONTAINS, Op.CONTAINS_ANY, Op.CONTAINS_ALL, *_PRESENCE}),
        FieldType.DATETIME: frozenset({*_ORDER, *_RELATIVE, Op.WITHIN_NEXT_DAYS, *_PRESENCE}),
        FieldType.DATE: frozenset(
            {Op.EQ, Op.NE, *_ORDER, *_RELATIVE, Op.ANNIVERSARY_WITHIN_DAYS, *_PRESENCE}
        ),
    }
)
"""Which operators each field type accepts; anything else is refused at parse time."""

RELATIVE_TIME_OPS: frozenset[Op] = frozenset(
    {*_RELATIVE, Op.WITHIN_NEXT_DAYS, Op.ANNIVERSARY_WITHIN_DAYS}
)


@dataclass(frozen=True)
class FieldCondition:
    """One test on a profile field. `value` keeps the JSON as written (for round trips);
    the typed slots hold what the evaluators read, so they never re-parse."""

    field: str
    type: FieldType
    op: Op
    value: object = None
    numbers: tuple[float, ...] = ()
    strings: frozenset[str] = frozenset()
    flag: bool = False
    days: int = 0
    instants: tuple[datetime, ...] = ()
    dates: tuple[date, ...] = ()

    @property
    def text(self) -> str:
        """The single string operand of eq / ne / contains."""
        return self.value if isinstance(self.value, str) else ""


@dataclass(frozen=True)
class ActivityCondition:
    """How many matching activities fall in the window, e.g. "bought skincare in 90 days".

    With `not_followed_by`, only activities after the customer's latest matching follower
    count: "viewed X and has not bought X since" (browse or cart abandonment).
    """

    kind: str
    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    within_days: int | None = None
    count_gte: int = 1
    count_lte: int | None = None
    not_followed_by: str | None = None
    since: datetime | None = None
    """Only activities at or after this instant count (a calendar window, e.g. a cohort's
    third month: what a retention cell's drill-down asks)."""
    before: datetime | None = None
    """Only activities before this instant count."""

    @property
    def ever(self) -> bool:
        """A plain "bought X" (no window, no count, no follower): it asks about all time, so
        the profile's all-time SKUs and categories answer it too, beyond the kept history."""
        return (
            self.kind == "bought"
            and self.within_days is None
            and self.since is None
            and self.before is None
            and self.count_gte == 1
            and self.count_lte is None
            and self.not_followed_by is None
        )


@dataclass(frozen=True)
class PreferenceCondition:
    """The customer's survey answers under `key` include any of `values`."""

    key: str
    values: frozenset[str]


@dataclass(frozen=True)
class AllOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Not:
    rule: Rule


Condition = FieldCondition | ActivityCondition | PreferenceCondition
Rule = AllOf | AnyOf | Not | Condition


# ---------------------------------------------------------------------------------------
# Parsing


def parse_rule(obj: object, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Rule:
    """Validate a JSON rule and compile it; raises `RuleError` naming the bad node."""
    return _Parser(max_depth, max_nodes).node(obj, "", 1)


_NODE_KEYS = ("all", "any", "not", "field", "activity", "preference")
_FIELD_KEYS = frozenset({"field", "op", "value"})
_ACTIVITY_KEYS = frozenset(
    {
        "activity",
        "sku",
        "category",
        "within_days",
        "since",
        "before",
        "count_gte",
        "count_lte",
        "not_followed_by",
    }
)
_PREFERENCE_KEYS = frozenset({"preference", "includes", "includes_any"})


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Parser:
    def __init__(self, max_depth: int, max_nodes: int) -> None:
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.nodes = 0

    def node(self, obj: object, path: str, depth: int) -> Rule:
        if depth > self.max_depth:
            raise RuleError(path, f"rule is nested deeper than {self.max_depth} levels")
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise RuleError(path, f"rule has more than {self.max_nodes} nodes")
        if not isinstance(obj, dict):
            raise RuleError(path, "expected an object such as {'field': ..., 'op': ...}")
        kinds = [k for k in _NODE_KEYS if k in obj]
        if len(kinds) != 1:
            found = f"found {', '.join(kinds)}" if kinds else "found none"
            raise RuleError(path, f"expected exactly one of {', '.join(_NODE_KEYS)}; {found}")
        kind = kinds[0]
        if kind in ("all", "any", "not"):
            self._only_keys(obj, path, frozenset({kind}))
        if kind == "all":
            return AllOf(self._children(obj["all"], _at(path, "all"), depth))
        if kind == "any":
            return AnyOf(self._children(obj["any"], _at(path, "any"), depth))
        if kind == "not":
            return Not(self.node(obj["not"], _at(path, "not"), depth + 1))
        if kind == "field":
            return self._field(obj, path)
        if kind == "activity":
            return self._activity(obj, path)
        return self._preference(obj, path)

    def _children(self, items: object, path: str, depth: int) -> tuple[Rule, ...]:
        if not isinstance(items, list):
            raise RuleError(path, "expected a list of rules")
        return tuple(self.node(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(items))

    @staticmethod
    def _only_keys(obj: Mapping[str, object], path: str, allowed: frozenset[str]) -> None:
        for key in obj:
            if key not in allowed:
                raise RuleError(
                    _at(path, str(key)), f"unknown key; allowed here: {', '.join(sorted(allowed))}"
                )

    # -- field conditions ------------------------------------------------------------

    def _field(self, obj: Mapping[str, object], path: str) -> FieldCondition:
        self._only_keys(obj, path, _FIELD_KEYS)
        name = obj["field"]
        ftype = field_type(name) if isinstance(name, str) else None
        if not isinstance(name, str) or ftype is None:
            raise RuleError(_at(path, "field"), f"unknown field {name!r}")
        op_path = _at(path, "op")
        if "op" not in obj:
            raise RuleError(op_path, "missing operator")
        try:
            op = Op(str(obj["op"]))
        except ValueError:
            raise RuleError(op_path, f"unknown operator {obj['op']!r}") from None
        if op not in OPS_BY_TYPE[ftype]:
            allowed = ", ".join(sorted(OPS_BY_TYPE[ftype]))
            raise RuleError(op_path, f"{op} does not apply to {ftype} field {name}; use {allowed}")
        value_path = _at(path, "value")
        if op in _PRESENCE:
            if "value" in obj:
                raise RuleError(value_path, f"{op} takes no value")
            return FieldCondition(name, ftype, op)
        if "value" not in obj:
            raise RuleError(value_path, f"{op} needs a value")
        return _operand(FieldCondition(name, ftype, op, obj["value"]), value_path)

    # -- activity and preference conditions ----------------------------------------------

    def _activity(self, obj: Mapping[str, object], path: str) -> ActivityCondition:
        self._only_keys(obj, path, _ACTIVITY_KEYS)
        kind = _activity_kind(obj["activity"], _at(path, "activity"))
        follower = None
        if "not_followed_by" in obj:
            follower = _activity_kind(obj["not_followed_by"], _at(path, "not_followed_by"))
            if follower == kind:
                raise RuleError(_at(path, "not_followed_by"), "must differ from the activity")
        within = None
        if "within_days" in obj:
            kept = ACTIVITY_HISTORY_DAYS[kind]
            within_path = _at(path, "within_days")
            within = _integer(obj["within_days"], within_path, 1, MAX_DAYS)
            if within > kept:
                raise RuleError(
                    within_path,
                    f"{kind} activities are kept for {kept} days; use at most {kept}",
                )
        since = _instant(obj["since"], _at(path, "since")) if "since" in obj else None
        before = _instant(obj["before"], _at(path, "before")) if "before" in obj else None
        if since is not None and before is not None and before <= since:
            raise RuleError(_at(path, "before"), "must be later than since")
        count_lte = None
        if "count_lte" in obj:
            count_lte = _integer(obj["count_lte"], _at(path, "count_lte"), 0, MAX_COUNT)
        default_gte = 1 if count_lte is None else 0
        count_gte = default_gte
        if "count_gte" in obj:
            count_gte = _integer(obj["count_gte"], _at(path, "count_gte"), 0, MAX_COUNT)
        if count_lte is not None and count_gte > count_lte:
            raise RuleError(_at(path, "count_lte"), "must be at least count_gte")
        return ActivityCondition(
            kind=kind,
            skus=_one_or_many(obj, "sku", path),
            categories=_one_or_many(obj, "category", path),
            within_days=within,
            count_gte=count_gte,
            count_lte=count_lte,
            not_followed_by=follower,
            since=since,
            before=before,
        )

    def _preference(self, obj: Mapping[str, object], path: str) -> PreferenceCondition:
        self._only_keys(obj, path, _PREFERENCE_KEYS)
        key = _text(obj["preference"], _at(path, "preference"))
        has_one, has_many = "includes" in obj, "includes_any" in obj
        if has_one == has_many:
            raise RuleError(path, "expected exactly one of includes, includes_any")
        if has_one:
            return PreferenceCondition(
                key, frozenset({_text(obj["includes"], _at(path, "includes"))})
            )
        values = _text_list(obj["includes_any"], _at(path, "includes_any"))
        return PreferenceCondition(key, frozenset(values))


def _operand(base: FieldCondition, path: str) -> FieldCondition:
    """`base` with its value checked and converted for its field type and operator."""
    value = base.value
    if base.op in RELATIVE_TIME_OPS:
        limit = 366 if base.op is Op.ANNIVERSARY_WITHIN_DAYS else MAX_DAYS
        days = _integer(value, path, 0, limit)
        return FieldCondition(base.field, base.type, base.op, value, days=days)
    match base.type:
        case FieldType.NUMBER:
            return _number_condition(base, value, path)
        case FieldType.STRING:
            return _string_condition(base, value, path)
        case FieldType.BOOL:
            if not isinstance(value, bool):
                raise RuleError(path, "expected true or false")
            return FieldCondition(base.field, base.type, base.op, value, flag=value)
        case FieldType.SET:
            return _set_condition(base, value, path)
    return _time_condition(base, value, path)


def _number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(path, "expected a number")
    try:
        number = float(value)
    except OverflowError:
        raise RuleError(path, "number too large") from None
    if not math.isfinite(number):
        raise RuleError(path, "expected a finite number")
    return number


def _integer(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleError(path, "expected a whole number")
    if not low <= value <= high:
        raise RuleError(path, f"expected a whole number from {low} to {high}")
    return value


def _text(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise RuleError(path, "expected a non-empty string")
    if len(value) > MAX_TEXT:
        raise RuleError(path, f"longer than {MAX_TEXT} characters")
    return value


def _list(value: object, path: str) -> list[object]:
    if not isinstance(value, list) or not value:
        raise RuleError(path, "expected a non-empty list")
    if len(value) > MAX_LIST_ITEMS:
        raise RuleError(path, f"more than {MAX_LIST_ITEMS} items")
    return value


def _text_list(value: object, path: str) -> list[str]:
    return [_text(item, f"{path}[{i}]") for i, item in enumerate(_list(value, path))]


def _pair(value: object, path: str) -> list[object]:
    if not isinstance(value, list) or len(value) != 2:
        raise RuleError(path, "expected [low, high]")
    return value


def _one_or_many(obj: Mapping[str, object], key: str, path: str) -> frozenset[str]:
    if key not in obj:
        return frozenset()
    value, at = obj[key], _at(path, key)
    return frozenset(_text_list(value, at) if isinstance(value, list) else [_text(value, at)])


def _activity_kind(value: object, path: str) -> str:
    if not isinstance(value, str) or value not in ACTIVITY_KINDS:
        raise RuleError(path, f"unknown activity; use {', '.join(sorted(ACTIVITY_KINDS))}")
    return value


def _number_condition(base: FieldCondition, value: object, path: str) -> FieldCondition:
    if base.op in (Op.IN, Op.NOT_IN):
        items = _list(value, path)
        numbers = tuple(_number(v, f"{path}[{i}]") for i, v in enumerate(items))
    elif base.op is Op.BETWEEN:
        low, high = _pair(value, path)
        numbers = (_number(low, f"{path}[0]"), _number(high, f"{path}[1]"))
        if numbers[0] > numbers[1]:
            raise RuleError(path, "low is greater than high")
    else:
        numbers = (_number(value, path),)
    return FieldCondition(base.field, base.type, base.op, value, numbers=numbers)


def _string_condition(base: FieldCondition, value: object, path: str) -> FieldCondition:
    if base.op in (Op.IN, Op.NOT_IN):
        strings = frozenset(_text_list(value, path))
    else:
        strings = frozenset({_text(value, path)})
    return FieldCondition(base.field, base.type, base.op, value, strings=strings)


def _set_condition(base: FieldCondition, value: object, path: str) -> FieldCondition:
    if base.op is Op.CONTAINS:
        strings = frozenset({_text(value, path)})
    else:
        strings = frozenset(_text_list(value, path))
    return FieldCondition(base.field, base.type, base.op, value, strings=strings)


def _instant(value: object, path: str) -> datetime:
    if not isinstance(value, str):
        raise RuleError(path, "expected an ISO 8601 date-time with offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RuleError(path, "not an ISO 8601 date-time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise RuleError(path, "date-time needs an offset, e.g. 2025-01-01T00:00:00+09:00")
    return parsed


def _day(value: object, path: str) -> date:
    if not isinstance(value, str):
        raise RuleError(path, "expected an ISO 8601 date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RuleError(path, "not an ISO 8601 date (YYYY-MM-DD)") from None


def _time_condition(base: FieldCondition, value: object, path: str) -> FieldCondition:
    items = list(_pair(value, path)) if base.op is Op.BETWEEN else [value]
    paths = [f"{path}[{i}]" for i in range(2)] if base.op is Op.BETWEEN else [path]
    if base.type is FieldType.DATETIME:
        instants = tuple(_instant(v, p) for v, p in zip(items, paths, strict=True))
        if len(instants) == 2 and instants[0] > instants[1]:
            raise RuleError(path, "low is later than high")
        return FieldCondition(base.field, base.type, base.op, value, instants=instants)
    dates = tuple(_day(v, p) for v, p in zip(items, paths, strict=True))
    if len(dates) == 2 and dates[0] > dates[1]:
        raise RuleError(path, "low is later than high")
    return FieldCondition(base.field, base.type, base.op, value, dates=dates)


# ---------------------------------------------------------------------------------------
# Inspection and serialisation


def iter_conditions(rule: Rule) -> Iterator[Condition]:
    """Every leaf condition, depth first."""
    if isinstance(rule, AllOf | AnyOf):
        for child in rule.rules:
            yield from iter_conditions(child)
    elif isinstance(rule, Not):
        yield from iter_conditions(rule.rule)
    else:
        yield rule


def rule_fields(rule: Rule) -> frozenset[str]:
    """Profile fields the rule reads: a profile change elsewhere cannot change its result."""
    return frozenset(
        stored_field(c.field) for c in iter_conditions(rule) if isinstance(c, FieldCondition)
    )


def rule_activity_kinds(rule: Rule) -> frozenset[str]:
    """Activity kinds the rule reads (followers included), for incremental recompute."""
    kinds: set[str] = set()
    for cond in iter_conditions(rule):
        if isinstance(cond, ActivityCondition):
            kinds.add(cond.kind)
            if cond.not_followed_by:
                kinds.add(cond.not_followed_by)
    return frozenset(kinds)


def rule_activity_windows(rules: Iterable[Rule]) -> dict[str, int | None]:
    """Per activity kind the rules read, how many days back they look (None: the whole
    kept history). A follower is read over its condition's window: one older than the
    window's start precedes every activity in it. A plain "bought X" reads the all-time
    SKUs and categories instead, so it needs no history. What the event path loads."""
    windows: dict[str, int | None] = {}

    def need(kind: str, days: int | None) -> None:
        if kind in windows:
            held = windows[kind]
            days = None if held is None or days is None else max(held, days)
        windows[kind] = days

    for rule in rules:
        for cond in iter_conditions(rule):
            if not isinstance(cond, ActivityCondition) or cond.ever:
                continue
            need(cond.kind, cond.within_days)
            if cond.not_followed_by:
                need(cond.not_followed_by, cond.within_days)
    return windows


def rule_preference_keys(rule: Rule) -> frozenset[str]:
    return frozenset(c.key for c in iter_conditions(rule) if isinstance(c, PreferenceCondition))


def rule_depends_on_time(rule: Rule) -> bool:
    """True when the result can change with no event at all (relative dates, windows), so
    the nightly job must re-evaluate it even for customers who did nothing."""
    for cond in iter_conditions(rule):
        if isinstance(cond, FieldCondition) and cond.op in RELATIVE_TIME_OPS:
            return True
        if isinstance(cond, ActivityCondition) and cond.within_days is not None:
            return True
    return False


def rule_to_json(rule: Rule) -> dict[str, object]:
    """The canonical JSON of a parsed rule; `parse_rule(rule_to_json(r)) == r`."""
    if isinstance(rule, AllOf):
        return {"all": [rule_to_json(child) for child in rule.rules]}
    if isinstance(rule, AnyOf):
        return {"any": [rule_to_json(child) for child in rule.rules]}
    if isinstance(rule, Not):
        return {"not": rule_to_json(rule.rule)}
    if isinstance(rule, FieldCondition):
        out: dict[str, object] = {"field": rule.field, "op": str(rule.op)}
        if rule.op not in _PRESENCE:
            out["value"] = rule.value
        return out
    if isinstance(rule, PreferenceCondition):
        return {"preference": rule.key, "includes_any": sorted(rule.values)}
    return _activity_json(rule)


def _activity_json(rule: ActivityCondition) -> dict[str, object]:
    act: dict[str, object] = {"activity": rule.kind}
    if rule.skus:
        act["sku"] = sorted(rule.skus)
    if rule.categories:
        act["category"] = sorted(rule.categories)
    if rule.within_days is not None:
        act["within_days"] = rule.within_days
    if rule.since is not None:
        act["since"] = rule.since.isoformat()
    if rule.before is not None:
        act["before"] = rule.before.isoformat()
    act["count_gte"] = rule.count_gte
    if rule.count_lte is not None:
        act["count_lte"] = rule.count_lte
    if rule.not_followed_by:
        act["not_followed_by"] = rule.not_followed_by
    return act
