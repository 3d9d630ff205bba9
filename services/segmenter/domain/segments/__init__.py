"""The segment engine: rules, the per-customer evaluator, RFM and built-in segments.

Pure domain code. The nightly, vectorised recompute lives in `segments.batch`, the only
module that imports numpy; importing this package does not load it.

The names below are loaded on first use (PEP 562): importing a submodule (`rfm_scale`,
`builtin`) does not load the rule language and the RFM scoring, which a segment list, a
cold start's first request, never needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.segment_rules.evaluate import count_activities, days_until_anniversary, evaluate
    from shared.segment_rules.facts import (
        ACTIVITY_KINDS,
        FIELD_CATALOG,
        Activity,
        ActivityKind,
        CustomerFacts,
        FieldType,
    )
    from shared.segment_rules.rules import (
        MAX_DEPTH,
        MAX_NODES,
        OPS_BY_TYPE,
        ActivityCondition,
        AllOf,
        AnyOf,
        FieldCondition,
        Not,
        Op,
        PreferenceCondition,
        Rule,
        RuleError,
        parse_rule,
        rule_activity_kinds,
        rule_depends_on_time,
        rule_fields,
        rule_preference_keys,
        rule_to_json,
    )

    from .builtin import BUILTIN_SEGMENTS, BUILTINS_BY_ID, BuiltinSegment
    from .rfm import (
        RfmConfig,
        RfmInput,
        RfmRank,
        RfmScore,
        RfmThresholds,
        ScoreFloor,
        ScoringMethod,
        rfm_input,
        score_customers,
    )

_EXPORTS = {
    "shared.segment_rules.evaluate": ("count_activities", "days_until_anniversary", "evaluate"),
    "shared.segment_rules.facts": (
        "ACTIVITY_KINDS",
        "FIELD_CATALOG",
        "Activity",
        "ActivityKind",
        "CustomerFacts",
        "FieldType",
    ),
    "shared.segment_rules.rules": (
        "MAX_DEPTH",
        "MAX_NODES",
        "OPS_BY_TYPE",
        "ActivityCondition",
        "AllOf",
        "AnyOf",
        "FieldCondition",
        "Not",
        "Op",
        "PreferenceCondition",
        "Rule",
        "RuleError",
        "parse_rule",
        "rule_activity_kinds",
        "rule_depends_on_time",
        "rule_fields",
        "rule_preference_keys",
        "rule_to_json",
    ),
    "segmenter.domain.segments.builtin": ("BUILTIN_SEGMENTS", "BUILTINS_BY_ID", "BuiltinSegment"),
    "segmenter.domain.segments.rfm": (
        "RfmConfig",
        "RfmInput",
        "RfmRank",
        "RfmScore",
        "RfmThresholds",
        "ScoreFloor",
        "ScoringMethod",
        "rfm_input",
        "score_customers",
    ),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
"""Where each exported name lives."""


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = [
    "ACTIVITY_KINDS",
    "BUILTINS_BY_ID",
    "BUILTIN_SEGMENTS",
    "FIELD_CATALOG",
    "MAX_DEPTH",
    "MAX_NODES",
    "OPS_BY_TYPE",
    "Activity",
    "ActivityCondition",
    "ActivityKind",
    "AllOf",
    "AnyOf",
    "BuiltinSegment",
    "CustomerFacts",
    "FieldCondition",
    "FieldType",
    "Not",
    "Op",
    "PreferenceCondition",
    "RfmConfig",
    "RfmInput",
    "RfmRank",
    "RfmScore",
    "RfmThresholds",
    "Rule",
    "RuleError",
    "ScoreFloor",
    "ScoringMethod",
    "count_activities",
    "days_until_anniversary",
    "evaluate",
    "parse_rule",
    "rfm_input",
    "rule_activity_kinds",
    "rule_depends_on_time",
    "rule_fields",
    "rule_preference_keys",
    "rule_to_json",
    "score_customers",
]
