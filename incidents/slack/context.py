"""What a Slack command or form may use: who asked, where, and the toolkit's parts."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient
from sqlalchemy import Engine

from incidents.config import Settings
from incidents.flows.ports import Clock, Notifier


@dataclass(frozen=True, slots=True)
class Context:
    """Who asked, where, and what the command may use."""

    user_id: str
    channel_id: str
    engine: Engine
    settings: Settings
    clock: Clock
    notifier: Notifier
    client: WebClient
