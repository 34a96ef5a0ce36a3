"""Riding out a study storage outage: a PostgreSQL restart, fail-over or network blip.

Every ledger and journal call goes through `retried`: a connection error is
retried with backoff until the outage has lasted `outage_seconds()` (default
2 minutes, `MODELOPS_STORAGE_OUTAGE_SECONDS`), then `StorageOutage` stops the
run. A retried write may have committed before its connection broke, so the
writes themselves are idempotent (see the ledger and the journal).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from .env_seconds import env_seconds

OUTAGE_ENV = "MODELOPS_STORAGE_OUTAGE_SECONDS"
DEFAULT_OUTAGE_SECONDS = 120.0
MAX_BACKOFF_SECONDS = 2.0

T = TypeVar("T")
log = logging.getLogger(__name__)


class StorageOutage(RuntimeError):
    """The study storage stayed unreachable for longer than the bound."""


def outage_seconds() -> float:
    return env_seconds(OUTAGE_ENV, DEFAULT_OUTAGE_SECONDS, at_least=0)


def is_transient(error: BaseException) -> bool:
    """A lost or refused connection (the server restarting or unreachable), not a bad query."""
    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))


def retried(call: Callable[[], T], what: str, on_retry: Callable[[], None] | None = None) -> T:
    """`call()`, again after each transient error until the outage bound; `on_retry` runs before each retry."""
    bound = outage_seconds()
    started: float | None = None
    delay = 0.05
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_transient(exc):
                raise
            now = time.monotonic()
            started = now if started is None else started
            if now - started >= bound:
                raise StorageOutage(
                    f"the study storage has been unreachable for {now - started:.0f} s "
                    f"(bound {bound:g} s, {OUTAGE_ENV}) while {what}: {_first_line(exc)}"
                ) from None
            if delay == 0.05:
                log.warning("study storage unreachable while %s (%s); retrying for up to %g s", what, _first_line(exc), bound)
            time.sleep(delay)
            delay = min(MAX_BACKOFF_SECONDS, delay * 2)
            if on_retry is not None:
                try:
                    on_retry()
                except Exception as retry_error:
                    if not is_transient(retry_error):
                        raise


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
