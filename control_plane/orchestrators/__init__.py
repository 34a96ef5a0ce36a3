"""Orchestrators decide: no I/O, no clock or environment reads; plain dicts in and out."""
