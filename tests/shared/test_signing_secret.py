"""The signing secret signs service tokens and every link: a stack refuses to start with
the public local default or a short one, except in a local sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.settings import LOCAL_SIGNING_SECRET, ConfigurationError, get_settings

STRONG_SECRET = "x1Y2z3W4v5U6t7S8r9Q0p1O2n3M4l5K6j7I8h9G0"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No KIZUNA_SANDBOX and no KIZUNA_SIGNING_SECRET, as on a fresh Lambda."""
    monkeypatch.delenv("KIZUNA_SANDBOX", raising=False)
    monkeypatch.delenv("KIZUNA_SIGNING_SECRET", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        (None, "public local default"),
        (LOCAL_SIGNING_SECRET, "public local default"),
        ("s3cret-but-only-31-characters!!", "shorter than 32 characters"),
    ],
)
def test_a_stack_refuses_to_start_with_a_public_or_short_secret(
    clean_environment: pytest.MonkeyPatch, secret: str | None, reason: str
) -> None:
    # Given a function whose environment has no secret, the public default or a short one
    if secret is not None:
        clean_environment.setenv("KIZUNA_SIGNING_SECRET", secret)

    # When it reads its settings at cold start
    with pytest.raises(ConfigurationError) as refused:
        get_settings()

    # Then it stops with a message that says what is wrong and how to fix it, secret unsaid
    message = str(refused.value)
    assert "KIZUNA_SIGNING_SECRET" in message and reason in message
    assert "secrets.token_urlsafe" in message
    assert (secret or LOCAL_SIGNING_SECRET) not in message


def test_a_random_secret_or_a_local_sandbox_starts(clean_environment: pytest.MonkeyPatch) -> None:
    # Given a stack with a random 40-character secret
    clean_environment.setenv("KIZUNA_SIGNING_SECRET", STRONG_SECRET)
    # Then it starts with that secret
    assert get_settings().signing_secret.get_secret_value() == STRONG_SECRET

    # Given the local sandbox (what `kizuna local up`, the demo and the e2e tests run) with
    # no secret set
    clean_environment.delenv("KIZUNA_SIGNING_SECRET")
    clean_environment.setenv("KIZUNA_SANDBOX", "true")
    get_settings.cache_clear()
    # Then it starts with the public local default
    assert get_settings().signing_secret.get_secret_value() == LOCAL_SIGNING_SECRET
