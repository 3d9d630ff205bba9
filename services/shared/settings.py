"""One settings object for every service, read from the environment (KIZUNA_*).

The SAM template's Globals set the same variables on every function, and the local
stack sets them from that template, so local and cloud read configuration one way.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

ENV_PREFIX = "KIZUNA_"

LOCAL_SIGNING_SECRET = "change-me-change-me-change-me-change-me"
"""The signing secret of local runs. It is public, so only a sandbox may use it."""
MIN_SIGNING_SECRET_LENGTH = 32


class ConfigurationError(RuntimeError):
    """The environment configures Kizuna in a way it must not run with.

    Not a ValueError, so pydantic lets it through as it is instead of wrapping it."""


def _environment(model: type[BaseModel]) -> dict[str, str]:
    """The fields the environment sets, as pydantic-settings read them for this flat
    model: `KIZUNA_<FIELD>`, or a field's validation alias as it is, in any case; the
    strings are validated (and coerced) like any input."""
    found = {name.lower(): value for name, value in os.environ.items()}
    values: dict[str, str] = {}
    for name, field in model.model_fields.items():
        alias = field.validation_alias
        key = alias if isinstance(alias, str) else name
        variable = (alias if isinstance(alias, str) else ENV_PREFIX + name).lower()
        if variable in found:
            values[key] = found[variable]
    return values


class Settings(BaseModel):
    """Configuration shared by the Kizuna functions.

    A plain pydantic model that reads the environment itself: pydantic-settings imports
    its every source (argparse among them) at every cold start, about a twentieth of a
    bare FastAPI + boto3 import, to read a few flat variables."""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    def __init__(self, **values: Any) -> None:
        """The environment's values, under those the caller passes."""
        super().__init__(**{**_environment(type(self)), **values})

    platform_table: str = "kizuna-platform"
    segmenter_table: str = "kizuna-segmenter"
    messenger_table: str = "kizuna-messenger"
    feedback_table: str = "kizuna-feedback"
    journeys_table: str = "kizuna-journeys"
    """Owned by the messenger's journey engine: definitions, enrolments, due steps, stats."""
    event_bus_name: str = "kizuna"
    analytics_bucket: str = "kizuna-analytics"
    """S3 bucket of the per-shop Parquet snapshot and the precomputed reports."""
    aws_region: str = Field(default="ap-northeast-1", validation_alias="AWS_DEFAULT_REGION")

    sender_email: str = "shop@example.com"
    sender_name: str = "Kizuna Demo Shop"
    sender_postal_address: str = "1-1-1 Chiyoda, Chiyoda-ku, Tokyo 100-0001"
    public_base_url: str = "http://localhost:8000"
    signing_secret: SecretStr = SecretStr(LOCAL_SIGNING_SECRET)
    """HMAC key of API service tokens and of unsubscribe, tracking, survey and early-access
    links: whoever knows it can act for any shop, so outside a sandbox it must be secret."""

    segmenter_api_url: str | None = None
    """Base URL of the segmenter's HTTP API for service calls (recommendations); defaults to
    `public_base_url`, where the HTTP API serves every service."""

    messenger_api_url: str | None = None
    """Base URL of the messenger's HTTP API for service calls (the analytics pass reads the
    journeys' stats); defaults to `public_base_url`."""

    max_body_bytes: int = 1_048_576
    """Requests larger than this are refused with 413 before they are parsed."""

    sandbox: bool = False
    """Channels record what they would send instead of calling LINE (mail and SMS go to SES/SNS,
    which are moto in the local stack)."""

    # Messenger providers (all optional: the defaults suit the local stack and tests).
    line_api_base_url: str = "https://api.line.me"
    line_channel_access_token: SecretStr = SecretStr("")
    """The platform's own LINE channel, for shops that connected none of their own (a
    single-shop deployment, the demo); each shop normally connects its channel through
    `PUT /v1/messenger/line-channel`."""
    line_channel_secret: SecretStr = SecretStr("")
    """Verifies `X-Line-Signature` on the platform channel's webhook (HMAC-SHA256 of the
    body); shops' own webhooks use their own channel secret."""
    ses_configuration_set: str | None = None
    """SES v2 configuration set whose SNS event destination reports bounces and complaints."""
    ses_notification_topic_arns: str = ""
    """Comma-separated SNS topic ARNs whose notifications the SES webhook accepts."""
    ses_notification_token: SecretStr = SecretStr("")
    """Shared secret the SNS HTTPS subscription URL carries as `?token=`."""
    sms_sender_id: str | None = None

    # Messenger: provider rate limits, campaign ticks, attribution, warm caches.
    ses_rate_per_second: float = 14.0
    """SES sending quota (the sandbox account default is 1/s, production starts at 14/s)."""
    line_rate_per_minute: float = 2000.0
    """LINE Messaging API calls per minute (one multicast of up to 500 users is one call)."""
    sns_sms_rate_per_second: float = 20.0
    """SNS SMS publishes per second."""
    campaign_tick_seconds: float = 50.0
    """How long one journey-dispatcher tick may send campaign waves (it fires every minute)."""
    attribution_window_days: float = 5.0
    """An order counts for the campaign message opened or clicked at most this long before."""
    messenger_cache_seconds: float = 60.0
    """How long a warm container reuses a message definition, a shop policy or a shop's
    LINE channel credentials it read."""
    messenger_unconfirmed_after_minutes: float = Field(default=15.0, gt=0)
    """A delivery still `sending` this long after its claim has certainly lost its Lambda
    (15 min is Lambda's longest run): the dispatcher turns it into an `unconfirmed` dead
    letter an operator can see and redrive."""

    journey_shards_queue_url: str = ""
    """SQS queue the journey-dispatcher tick fans the due shards out to (one message per
    shard, a worker each). Empty: the tick runs the shards itself (local stack, tests)."""
    events_dead_letter_queue_url: str = ""
    """The events dead-letter queue, which an erasure sweeps of the person's events (the
    messenger's events function). Empty: no queue to sweep (tests, the API functions)."""
    journey_due_shards: int = Field(default=16, ge=1, le=256)
    """Partitions of the due-time index, so a million due steps are no hot key."""
    journey_steps_per_shard: int = Field(default=500, ge=1)
    """Due enrolments one worker runs per shard per tick; the rest wait for the next tick."""

    # Feedback: survey links and restock releases.
    survey_link_days: int = 30
    """How long a signed per-customer survey link stays valid."""
    restock_confirm_hours: int = 72
    """How long an anonymous restock sign-up's double opt-in link stays valid."""
    restock_early_access_hours: int = 24
    """Early-access window of a restock release, before the general release."""
    restock_wave_factor: float = 2.0
    """Each wave tells up to (stock x factor) sign-ups: not everyone told will buy."""
    restock_wave_interval_minutes: int = 15
    """Time between waves, so stock bought by one wave is seen before the next."""

    @model_validator(mode="after")
    def _refuse_a_public_signing_secret(self) -> Self:
        """Fail at cold start rather than run a stack whose tokens anyone can forge. The
        local stack and the demo run with `sandbox`, where the public default is fine."""
        if self.sandbox:
            return self
        secret = self.signing_secret.get_secret_value()
        if secret == LOCAL_SIGNING_SECRET:
            problem = "is the public local default"
        elif len(secret) < MIN_SIGNING_SECRET_LENGTH:
            problem = f"is shorter than {MIN_SIGNING_SECRET_LENGTH} characters"
        else:
            return self
        raise ConfigurationError(
            f"KIZUNA_SIGNING_SECRET {problem}; set it to a random secret, e.g. "
            '`python -c "import secrets; print(secrets.token_urlsafe(48))"` '
            "(only a local sandbox, KIZUNA_SANDBOX=true, may run without one)"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once per cold start."""
    return Settings()
