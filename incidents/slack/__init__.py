"""Slack: the Bolt app, Block Kit builders and the outbox handlers that talk to Slack."""
