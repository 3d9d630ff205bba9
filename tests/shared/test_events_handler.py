"""A malformed event fails loudly (so it reaches the DLQ) with a message that names the
event and the failing fields, never the values: the Lambda runtime logs that message."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.contracts.details import OrderPlaced
from shared.events_handler import MalformedEvent, dispatch

EMAIL = "hanako.yamada@example.jp"
PHONE = "09012345678"
PHONE_DIGITS = "9012345678"
"""In every writing of the phone number: text, and an int that lost its leading zero."""


def _order_placed_with_bad_customer() -> dict[str, Any]:
    """An order.placed whose customer carries an email and a phone where they do not fit."""
    detail = {
        "order_id": "ord-1",
        "customer": {"customer_id": "c-1", "email": [EMAIL], "phone": int(PHONE), EMAIL: "x"},
        "placed_at": "2026-11-23T10:00:00+09:00",
        "currency": "JPY",
        "total": f"call {PHONE}",
        "items": [],
        "order_count": 1,
        "is_first_order": True,
    }
    return {
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "order.placed",
        "source": "kizuna.segmenter",
        "detail": {"id": "evt-1", "shop": "acme", "type": "order.placed", "detail": detail},
    }


def test_a_malformed_event_names_fields_but_never_personal_data() -> None:
    # Given an event whose detail breaks its contract around an email and a phone number,
    # which pydantic's own message would quote
    event = _order_placed_with_bad_customer()
    with pytest.raises(ValidationError) as pydantic_error:
        OrderPlaced.model_validate(event["detail"]["detail"])
    assert EMAIL in str(pydantic_error.value) and PHONE in str(pydantic_error.value)
    routed: list[object] = []

    def route(envelope: object, detail: object) -> dict[str, Any]:
        routed.append(detail)
        return {}

    # When the handler receives it
    with pytest.raises(MalformedEvent) as refused:
        dispatch(event, events={"order.placed": route}, schedules={})

    # Then nothing is routed, and the error names the event, the fields and the error types
    message = str(refused.value)
    assert routed == []
    assert "7bf73129-1428-4cd3-a780-95db273d1602" in message and "order.placed" in message
    assert "detail.customer.email (string_type)" in message
    assert "detail.customer.phone (string_type)" in message
    assert "detail.total (decimal_parsing)" in message
    assert "detail.customer.* (extra_forbidden)" in message
    # But no value from the event, and pydantic's error is not chained into the traceback
    assert EMAIL not in message and PHONE_DIGITS not in message
    assert refused.value.__suppress_context__ and refused.value.__cause__ is None


def test_an_event_without_a_kizuna_envelope_is_malformed() -> None:
    # Given an EventBridge event without the envelope in `detail`
    event = {"id": "e-2", "detail-type": "order.placed", "source": "kizuna.segmenter"}

    # When the handler receives it, Then it fails naming what is missing
    with pytest.raises(MalformedEvent, match=r"event e-2 \(order.placed\).*detail \(missing\)"):
        dispatch(event, events={}, schedules={})
