"""The README's configuration table names every setting the toolkit reads."""

from __future__ import annotations

from incidents.config import ENV_PREFIX, Settings
from tests.readme import README


def test_every_setting_is_documented():
    text = README.read_text()
    missing = [name for name in Settings.model_fields if f"{ENV_PREFIX}{name.upper()}" not in text]
    assert missing == []
