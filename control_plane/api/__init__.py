"""The HTTP API and the event intake: Durable client functions, one blueprint per area."""
