"""Strict fakes of the external APIs that tests drive with the real client libraries."""
