"""Durable activities: they act on one external system each, idempotently, and never return a secret."""
