"""Settings: the only place that reads the environment (prefix ``INCIDENTS_``).

Every setting is documented in the README's configuration table. Secrets are
``SecretStr`` so they never print. ``load_settings`` turns a validation failure into a
``ConfigError`` whose message is one line naming the setting, so start-up stops clearly.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from incidents.domain import cadence
from incidents.domain.severity import parse_severity
from incidents.domain.timeinput import parse_duration
from incidents.errors import ConfigError, InvalidInput, InvalidTime
from incidents.resources import bundled_dir

ENV_PREFIX = "INCIDENTS_"
_PLACEHOLDER_SECRETS = frozenset({"changeme", "changethis", "secret", "token", "xxx"})
SEVERITY_NAMES = ("SEV1", "SEV2", "SEV3", "SEV4")


class Settings(BaseSettings):
    """Typed configuration of one toolkit process."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: str = "sqlite:///incidents.db"
    api_token: SecretStr | None = None
    webhook_token: SecretStr | None = None
    grafana_secret: SecretStr | None = None
    grafana_signature_header: str = "X-Grafana-Alerting-Signature"
    grafana_timestamp_header: str | None = None
    pagerduty_webhook_secret: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_api_token: SecretStr | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com"
    pagerduty_api_url: str = "https://api.pagerduty.com"
    pagerduty_ca_bundle: Path | None = None
    pagerduty_min_severity: str = "SEV2"
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_channel: str | None = None
    slack_stakeholder_channel: str | None = None
    slack_channel_min_severity: str = "SEV2"
    update_cadence: str = cadence.DEFAULT
    default_timezone: str = "UTC"
    auto_resolve: bool = True
    reopen_window: timedelta = timedelta(minutes=10)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_json_depth: int = Field(default=64, ge=4)
    max_alerts_per_delivery: int = Field(default=1000, ge=1)
    max_labels_per_alert: int = Field(default=100, ge=1)
    group_commit_max: int = Field(default=64, ge=1, le=10_000)
    # Most milliseconds the writer waits for fuller batches under load; None: 5 on
    # PostgreSQL, 0 on SQLite (flows/group_commit.py says why and until when).
    group_commit_wait_ms: float | None = Field(default=None, ge=0, le=50)
    # The group-commit writer prepares its statements on PostgreSQL (store/planned.py); false
    # behind a pooler that cannot keep them (PgBouncer's transaction mode before 1.21).
    prepared_statements: bool = True
    # Which serving process this is (set by ``incidents serve`` for each worker): its
    # group-commit writer's own row per incident in incident_touches (store/bulk.py).
    worker_index: int = Field(default=0, ge=0, le=1_000_000)
    templates_dir: Path = Field(default_factory=lambda: bundled_dir("templates"))
    runbooks_dir: Path = Field(default_factory=lambda: bundled_dir("runbooks"))
    public_url: str = "http://127.0.0.1:8000"
    outbox_max_attempts: int = Field(default=10, ge=1)
    outbox_lease: timedelta = timedelta(seconds=60)
    outbox_poll_interval: float = Field(default=1.0, gt=0)
    outbox_base_delay: float = Field(default=2.0, gt=0)
    outbox_max_delay: float = Field(default=600.0, gt=0)
    log_level: str = "INFO"
    pin_cpu: bool = True  # each serving process on one CPU of its own (incidents/serving.py)

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown timezone {value!r} (use an IANA name such as Europe/Berlin)"
            ) from exc
        return value

    @field_validator("reopen_window", "outbox_lease", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.upper().startswith("P"):
            try:
                return parse_duration(value)
            except InvalidTime as exc:
                raise ValueError(exc.message) from None
        return value

    @field_validator("database_url")
    @classmethod
    def _parseable_url(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from exc
        return value

    @field_validator(
        "api_token",
        "webhook_token",
        "grafana_secret",
        "pagerduty_webhook_secret",
        "pagerduty_routing_key",
        "pagerduty_api_token",
        "slack_signing_secret",
        "slack_bot_token",
    )
    @classmethod
    def _not_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if not secret:
            return None  # an empty variable means "not configured"
        if secret.lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder value; set a real secret or leave it unset")
        return value

    @field_validator("slack_channel_min_severity", "pagerduty_min_severity")
    @classmethod
    def _severity_name(cls, value: str) -> str:
        try:
            return parse_severity(value).value
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    @field_validator("update_cadence")
    @classmethod
    def _cadence(cls, value: str) -> str:
        try:
            cadence.parse_cadence(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        return value

    @property
    def cadence(self) -> dict[str, timedelta]:
        """Return the stakeholder-update interval per severity."""
        return cadence.parse_cadence(self.update_cadence)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return upper


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment, raising a one-line ConfigError on bad values."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {ENV_PREFIX}{field.upper()}: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide Settings, read once."""
    return load_settings()
