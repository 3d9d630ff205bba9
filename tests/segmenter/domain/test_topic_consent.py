"""Topic consent in the rule language: `consent.topic.<name>` reads whether the person
left that unsubscribe topic, per customer and in the nightly batch (which hands such a
rule to the per-customer evaluator)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from segmenter.domain.segments import CustomerFacts, RuleError, parse_rule, rule_fields
from segmenter.domain.segments.batch import supports
from shared.segment_rules.evaluate import evaluate

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def _facts(customer_id: str, left: frozenset[str]) -> CustomerFacts:
    return CustomerFacts(customer_id, {"unsubscribed_topics": left})


def test_a_topic_consent_is_true_until_the_person_leaves_the_topic() -> None:
    """Given one person who left step_mails and one who left nothing
    When a rule asks for consent.topic.step_mails (and, for contrast, newsletter)
    Then only the one who stayed matches step_mails; both match newsletter."""
    step = parse_rule({"field": "consent.topic.step_mails", "op": "eq", "value": True})
    news = parse_rule({"field": "consent.topic.newsletter", "op": "eq", "value": True})
    left, stayed = _facts("a", frozenset({"step_mails"})), _facts("b", frozenset())
    assert [evaluate(step, f, NOW) for f in (left, stayed)] == [False, True]
    assert [evaluate(news, f, NOW) for f in (left, stayed)] == [True, True]
    # The same question through the stored set reads the same
    same = parse_rule(
        {"not": {"field": "unsubscribed_topics", "op": "contains", "value": "step_mails"}}
    )
    assert [evaluate(same, f, NOW) for f in (left, stayed)] == [False, True]


def test_it_reads_the_topics_left_and_runs_per_customer_in_the_batch() -> None:
    rule = parse_rule({"field": "consent.topic.step_mails", "op": "eq", "value": True})
    assert rule_fields(rule) == frozenset({"unsubscribed_topics"})
    assert not supports(rule)


@pytest.mark.parametrize("name", ["consent.topic.", "consent.topic.Step Mails", "consent.x"])
def test_a_bad_topic_field_is_refused_naming_the_field(name: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule({"field": name, "op": "eq", "value": True})
    assert caught.value.path == "field"
