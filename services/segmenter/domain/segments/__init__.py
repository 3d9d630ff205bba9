"""The segment engine: rules, the per-customer evaluator, RFM and built-in segments.

Pure domain code. The nightly, vectorised recompute lives in `segments.batch`, the only
module that imports numpy; importing this package does not load it.
"""

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
