"""Durable delivery of side effects (Slack, PagerDuty): enqueue in the change's transaction,
deliver from a worker with retries, leases and dead letters (DESIGN §12)."""
