"""Entry filters, flow filters and branch conditions: the segment rule language, whole,
plus what only a journey knows. Pure domain.

Every node of the segment rule language (`shared.segment_rules`: profile fields,
activities, preferences, with their typed operators) is accepted, checked by the same
parser the segmenter uses (a bad one names its JSON path), and kept as a `ProfileRule`
leaf: the profile it reads lives in the segmenter, so the runner asks the segmenter to
judge those leaves (one request for all of a filter's leaves). Besides them, in the
same `all` / `any` / `not` tree:

- `{"segment": "<id>"}`: the messenger's copy of segment membership;
- `{"field": "event.<name>" | "order.<name>" | "customer.<name>", "op", "value"}`, the
  facts only the messenger has: a top-level field of the trigger event
  (`event.is_first_order`), the trigger order as `order.placed` reported it
  (`order.order_count`, `order.total`, `order.is_first_order`, `order.sales_channel`),
  the recipient's `customer.locale` / `timezone` / `rank`, and `customer.order_count`
  (the highest order count an `order.placed` reported for the person).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.errors import InvalidInput
from shared.segment_rules.rules import Rule, RuleError, parse_rule

OPS = frozenset(
    {"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists", "not_exists"}
)
FIELD_PREFIXES = ("event.", "order.", "customer.")
MAX_NODES = 100


class FilterError(InvalidInput):
    code = "invalid_journey"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}", field=path)
        self.path = path


@dataclass(frozen=True)
class FieldTest:
    field: str
    op: str
    value: Any = None


@dataclass(frozen=True, eq=False)
class ProfileRule:
    """A node of the segment rule language, judged on the profile by the segmenter.
    Compared by identity: each leaf of a filter is its own question."""

    rule: Rule
    source: Mapping[str, Any]
    """The JSON as written (what is sent to the segmenter and read back by the API)."""


@dataclass(frozen=True)
class InSegment:
    segment_id: str


@dataclass(frozen=True)
class AllOf:
    rules: tuple[Filter, ...]


@dataclass(frozen=True)
class AnyOf:
    rules: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    rule: Filter


Filter = FieldTest | InSegment | ProfileRule | AllOf | AnyOf | Not


def parse_filter(obj: object, path: str) -> Filter:
    """The filter at `path` in the journey JSON, or a `FilterError` naming the node."""
    count = [0]

    def node(o: object, p: str) -> Filter:
        count[0] += 1
        if count[0] > MAX_NODES:
            raise FilterError(p, f"a filter has at most {MAX_NODES} nodes")
        if not isinstance(o, Mapping) or not o:
            raise FilterError(
                p,
                "expected an object with one of all, any, not, field, activity, preference, "
                "segment",
            )
        if "all" in o or "any" in o:
            kind = "all" if "all" in o else "any"
            items = o[kind]
            if not isinstance(items, list):  # empty as in the segment rules: all true, any false
                raise FilterError(f"{p}.{kind}", "expected a list of rules")
            rules = tuple(node(x, f"{p}.{kind}[{i}]") for i, x in enumerate(items))
            return AllOf(rules) if kind == "all" else AnyOf(rules)
        if "not" in o:
            return Not(node(o["not"], f"{p}.not"))
        if "segment" in o:
            seg = o["segment"]
            if not isinstance(seg, str) or not seg:
                raise FilterError(f"{p}.segment", "expected a segment id")
            return InSegment(seg)
        name = o.get("field")
        if not (isinstance(name, str) and name.startswith(FIELD_PREFIXES)):
            return _profile_rule(o, p)
        op = o.get("op")
        if op not in OPS:
            raise FilterError(f"{p}.op", f"expected one of {sorted(OPS)}")
        value = o.get("value")
        if op in ("in", "not_in") and not isinstance(value, list):
            raise FilterError(f"{p}.value", "expected a list")
        if op not in ("exists", "not_exists") and value is None:
            raise FilterError(f"{p}.value", "missing")
        return FieldTest(name, str(op), value)

    return node(obj, path)


def _profile_rule(obj: Mapping[str, Any], path: str) -> ProfileRule:
    """A segment-language node, checked by the segmenter's own parser (its error path
    appended to the journey's: `entry_filter.all[0].value`)."""
    try:
        rule = parse_rule(dict(obj))
    except RuleError as err:
        raise FilterError(f"{path}.{err.path}" if err.path else path, err.reason) from None
    return ProfileRule(rule, dict(obj))


def profile_rules(rule: Filter | None) -> list[ProfileRule]:
    """The filter's segment-language leaves, in order (what the segmenter is asked)."""
    if isinstance(rule, ProfileRule):
        return [rule]
    if isinstance(rule, AllOf | AnyOf):
        return [leaf for r in rule.rules for leaf in profile_rules(r)]
    if isinstance(rule, Not):
        return profile_rules(rule.rule)
    return []


def segments_of(rule: Filter | None) -> frozenset[str]:
    """Every segment a filter names (each must be known to the messenger)."""
    if rule is None:
        return frozenset()
    if isinstance(rule, InSegment):
        return frozenset({rule.segment_id})
    if isinstance(rule, AllOf | AnyOf):
        return frozenset().union(*(segments_of(r) for r in rule.rules))
    if isinstance(rule, Not):
        return segments_of(rule.rule)
    return frozenset()


def fields_of(rule: Filter | None) -> frozenset[str]:
    """Every messenger fact a filter reads (to fetch only the facts some filter needs)."""
    if rule is None or isinstance(rule, InSegment | ProfileRule):
        return frozenset()
    if isinstance(rule, AllOf | AnyOf):
        return frozenset().union(*(fields_of(r) for r in rule.rules))
    if isinstance(rule, Not):
        return fields_of(rule.rule)
    return frozenset({rule.field})


def filter_to_json(rule: Filter) -> dict[str, Any]:
    if isinstance(rule, ProfileRule):
        return dict(rule.source)
    if isinstance(rule, InSegment):
        return {"segment": rule.segment_id}
    if isinstance(rule, AllOf):
        return {"all": [filter_to_json(r) for r in rule.rules]}
    if isinstance(rule, AnyOf):
        return {"any": [filter_to_json(r) for r in rule.rules]}
    if isinstance(rule, Not):
        return {"not": filter_to_json(rule.rule)}
    out: dict[str, Any] = {"field": rule.field, "op": rule.op}
    if rule.value is not None:
        out["value"] = rule.value
    return out


def matches(
    rule: Filter | None,
    facts: Mapping[str, Any],
    in_segment: Callable[[str], bool],
    on_profile: Callable[[ProfileRule], bool],
) -> bool:
    """Whether the facts satisfy the filter (no filter: everyone). A missing field is
    false for every test but `not_exists` (as in the segment rules); `on_profile`
    answers the segment-language leaves."""
    if rule is None:
        return True
    if isinstance(rule, InSegment):
        return in_segment(rule.segment_id)
    if isinstance(rule, ProfileRule):
        return on_profile(rule)
    if isinstance(rule, AllOf):
        return all(matches(r, facts, in_segment, on_profile) for r in rule.rules)
    if isinstance(rule, AnyOf):
        return any(matches(r, facts, in_segment, on_profile) for r in rule.rules)
    if isinstance(rule, Not):
        return not matches(rule.rule, facts, in_segment, on_profile)
    return _test(rule, facts.get(rule.field))


def _test(t: FieldTest, actual: Any) -> bool:
    if t.op == "exists":
        return actual is not None
    if t.op == "not_exists":
        return actual is None
    if actual is None:
        return False
    if t.op == "eq":
        return _same(actual, t.value)
    if t.op == "ne":
        return not _same(actual, t.value)
    if t.op == "in":
        return any(_same(actual, v) for v in t.value)
    if t.op == "not_in":
        return not any(_same(actual, v) for v in t.value)
    if t.op == "contains":
        if isinstance(actual, list | set | frozenset | tuple):
            return any(_same(a, t.value) for a in actual)
        return str(t.value) in str(actual)
    a, b = _number(actual), _number(t.value)
    if a is None or b is None:
        return False
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[t.op]


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected or actual == expected
    a, b = _number(actual), _number(expected)
    if a is not None and b is not None:
        return a == b
    return str(actual) == str(expected)
