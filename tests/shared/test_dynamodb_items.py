"""Items are converted without boto3 (it would load s3transfer into every cold start), by
the rules of boto3's own `TypeSerializer` / `TypeDeserializer`: the same attribute values
for every value a repository writes, the same values read back, the same refusals."""

from __future__ import annotations

from decimal import Decimal, Inexact, Rounded
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from shared.adapters.dynamodb import _prepare, deserialize, from_item, serialize, to_item

_numbers = st.integers(min_value=-(10**37), max_value=10**37) | st.decimals(
    min_value=Decimal("-1e20"), max_value=Decimal("1e20"), places=6, allow_nan=False
)
_scalars = st.none() | st.booleans() | _numbers | st.text(max_size=20) | st.binary(max_size=8)
_sets = (
    st.frozensets(st.text(max_size=5), max_size=4)
    | st.frozensets(st.integers(-1000, 1000), max_size=4)
    | st.frozensets(st.binary(min_size=1, max_size=4), max_size=4)
)
_values = st.recursive(
    _scalars | _sets,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(_values)
def test_a_value_becomes_the_attribute_value_boto3_makes(value: Any) -> None:
    """Given any value a repository may write
    When it is serialized
    Then the attribute value is boto3's, and reading it back gives boto3's value."""
    attribute = serialize(value)
    assert attribute == TypeSerializer().serialize(value)
    assert deserialize(attribute) == TypeDeserializer().deserialize(attribute)


@given(st.dictionaries(st.text(min_size=1, max_size=5), _values, max_size=5))
def test_an_item_round_trips(data: dict[str, Any]) -> None:
    """Given an item
    When it is written and read back
    Then it is what boto3 makes of the prepared values (floats as Decimal, no None in
    it), and it reads back as boto3 reads it."""
    item = to_item(data)
    prepared = _prepare(data)
    expected = {k: TypeSerializer().serialize(v) for k, v in prepared.items() if v is not None}
    assert item == expected
    assert from_item(item) == {k: TypeDeserializer().deserialize(v) for k, v in item.items()}


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (1.5, TypeError),
        (Decimal("Infinity"), TypeError),
        (Decimal("NaN"), TypeError),
        (Decimal("1." + "1" * 40), Inexact),
        (Decimal("1e200"), Rounded),
        ({1, "a"}, TypeError),
        (object(), TypeError),
    ],
)
def test_what_boto3_refuses_is_refused(value: Any, error: type[Exception]) -> None:
    """Given a value DynamoDB cannot hold as it is (a float, an infinite number, more than
    38 digits, a mixed set)
    When it is serialized
    Then it is refused as boto3 refuses it, never stored changed."""
    with pytest.raises(error):
        TypeSerializer().serialize(value)
    with pytest.raises(error):
        serialize(value)
