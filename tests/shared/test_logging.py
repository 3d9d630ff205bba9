"""Logs never carry an email address, a phone number or a name."""

from __future__ import annotations

import io
import json
import logging

from shared.log import JsonFormatter


def _log_line(message: str, **extra: object) -> dict[str, object]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("kizuna.test.pii")
    logger.handlers = [handler]
    logger.propagate = False
    logger.warning(message, extra=extra)
    return dict(json.loads(stream.getvalue()))


def test_personal_fields_and_patterns_are_redacted() -> None:
    # Given a careless log call with personal data in the message and in extras
    line = _log_line(
        "mail to hanako@example.jp failed, call +81 90-1234-5678",
        email="hanako@example.jp",
        full_name="山田花子",
        phone="+819012345678",
        note="contact taro@example.com",
        event_id="evt-1",
    )

    # Then none of it reaches the output, and the non-personal fields do
    text = json.dumps(line, ensure_ascii=False)
    for secret in (
        "hanako@example.jp",
        "山田花子",
        "1234-5678",
        "+819012345678",
        "taro@example.com",
    ):
        assert secret not in text
    assert line["event_id"] == "evt-1"
    assert line["email"] == "[redacted]"


def test_exception_logs_only_the_class() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("kizuna.test.exc")
    logger.handlers = [handler]
    logger.propagate = False
    try:
        raise ValueError("bad address hanako@example.jp")
    except ValueError:
        logger.exception("failed")
    line = json.loads(stream.getvalue())
    assert line["exception"] == "ValueError"
    assert "hanako" not in stream.getvalue()


def test_ids_and_dates_are_not_mistaken_for_phone_numbers() -> None:
    line = _log_line(
        "event 937d843a-495a-46f2-a95a-e24f19c63291 of 2026-11-23T21:19:57"
        " id 2245c8b858aa8a0a20541dc7"
    )
    assert "[redacted]" not in str(line["message"])
