"""The till through the agent: local copy, sales online and offline, the outbox and its sync."""
