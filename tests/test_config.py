"""Settings: environment names, defaults, secrets that never print, one-line errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from incidents.config import load_settings
from incidents.errors import ConfigError


def test_defaults(monkeypatch):
    for name in ("INCIDENTS_DATABASE_URL", "INCIDENTS_API_TOKEN", "INCIDENTS_DEFAULT_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///incidents.db"
    assert settings.api_token is None
    assert settings.default_timezone == "UTC"
    assert settings.auto_resolve is True
    assert settings.reopen_window == timedelta(minutes=10)
    assert settings.max_body_bytes == 1024 * 1024
    assert (settings.templates_dir).is_dir()
    assert (settings.runbooks_dir).is_dir()


def test_reads_prefixed_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("INCIDENTS_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1/x")
    monkeypatch.setenv("INCIDENTS_API_TOKEN", "abc-123-real")
    monkeypatch.setenv("INCIDENTS_DEFAULT_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("INCIDENTS_REOPEN_WINDOW", "5m")
    monkeypatch.setenv("INCIDENTS_TEMPLATES_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "abc-123-real"
    assert settings.default_timezone == "Europe/Berlin"
    assert settings.reopen_window == timedelta(seconds=300)
    assert settings.templates_dir == Path(tmp_path)


def test_secrets_never_print(monkeypatch):
    monkeypatch.setenv("INCIDENTS_API_TOKEN", "very-secret-value-1")
    monkeypatch.setenv("INCIDENTS_SLACK_SIGNING_SECRET", "very-secret-value-2")
    settings = load_settings()
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "very-secret-value" not in text


@pytest.mark.parametrize(
    ("text", "seconds"), [("600", 600), ("10m", 600), ("PT10M", 600), ("1h30m", 5400)]
)
def test_reopen_window_forms(monkeypatch, text, seconds):
    monkeypatch.setenv("INCIDENTS_REOPEN_WINDOW", text)
    assert load_settings().reopen_window == timedelta(seconds=seconds)


def test_empty_secret_means_unset(monkeypatch):
    monkeypatch.setenv("INCIDENTS_API_TOKEN", "")
    assert load_settings().api_token is None


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("INCIDENTS_DEFAULT_TIMEZONE", "Mars/Olympus", "unknown timezone"),
        ("INCIDENTS_DATABASE_URL", "not a url", "not a database URL"),
        ("INCIDENTS_API_TOKEN", "changeme", "placeholder"),
        ("INCIDENTS_MAX_BODY_BYTES", "-1", "greater than 0"),
        ("INCIDENTS_AUTO_RESOLVE", "perhaps", "boolean"),
        ("INCIDENTS_LOG_LEVEL", "LOUD", "DEBUG"),
        ("INCIDENTS_REOPEN_WINDOW", "a while", "duration"),
    ],
)
def test_invalid_setting_is_one_line_naming_it(monkeypatch, name, value, fragment):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = caught.value.message
    assert message.startswith(f"invalid setting {name}:")
    assert fragment in message
    assert "\n" not in message


def test_update_cadence_is_read_per_severity():
    settings = load_settings(update_cadence="sev1=15m, SEV2=2h, SEV3=off")
    assert settings.cadence == {"SEV1": timedelta(minutes=15), "SEV2": timedelta(hours=2)}


@pytest.mark.parametrize(
    ("value", "says"),
    [("SEV1", "SEVERITY=INTERVAL"), ("SEV9=1h", "SEV9"), ("SEV1=1m", "too often"),
     ("SEV2=soon", "SEV2")],
)  # fmt: skip
def test_bad_update_cadence_is_one_clear_line(value, says):
    with pytest.raises(ConfigError, match="INCIDENTS_UPDATE_CADENCE") as caught:
        load_settings(update_cadence=value)
    assert says in str(caught.value) and "\n" not in str(caught.value)
