"""Where a run's study lives, chosen by URL.

- ``memory`` (the default): in this process; one runner, gone when it ends.
- ``sqlite:///path/to/study.db``: on disk; one runner, which can resume it.
- ``postgresql://user@host:port/db``: shared; any number of runners.

The Optuna study and the runner's trial ledger live side by side in the same
database. On SQLite and PostgreSQL the study is Optuna's journal
(`runner.journal`): each runner keeps it in memory and reads only what others
appended since, where Optuna's RDB storage would reload every trial on every ask. Credentials belong
in the URL given at run time (or PG* variables, see `runner.config`), never in
a run document.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

import optuna
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from .journal import SqlJournalBackend
from .journal_storage import RunJournalStorage
from .database import sqlalchemy_url
from .ledger import Ledger

# Key of the advisory lock under which runners create tables, one at a time.
_SCHEMA_LOCK = 0x6D6F707353434845


def storage_kind(url: str) -> str:
    """"memory", "sqlite" or "postgresql"; anything else is a `ValueError`."""
    if url == "memory":
        return "memory"
    try:
        backend = make_url(url).get_backend_name()
    except Exception:
        backend = None
    if backend in ("sqlite", "postgresql"):
        return backend
    raise ValueError(
        f"unsupported study storage {url.split('://')[0]!r}: use 'memory', 'sqlite:///path' or 'postgresql://...'"
    )


def open_storage(
    url: str, run_id: str, runner_id: str, budget: int, document: dict[str, Any] | None = None, force: bool = False
) -> tuple[optuna.storages.BaseStorage | None, Ledger]:
    """Optuna's storage and the run's ledger, their tables created if missing.

    A run resumed with a different `document` is refused (`SpecMismatch`) unless `force`.

    Runners that start together would race to create the same tables (Optuna's
    included), so on PostgreSQL creation happens under an advisory lock.
    """
    with _schema_lock(url):
        ledger = Ledger.open(url, run_id, runner_id, budget, document, force)
        return optuna_storage(url, run_id), ledger


@contextlib.contextmanager
def _schema_lock(url: str) -> Iterator[None]:
    if storage_kind(url) != "postgresql":
        yield
        return
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
            try:
                yield
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))
    finally:
        engine.dispose()


def optuna_storage(url: str, run_id: str) -> optuna.storages.BaseStorage | None:
    """Optuna's storage for `url` (None: Optuna's in-memory storage); else the run's own journal in that database."""
    kind = storage_kind(url)
    if kind == "memory":
        return None
    return RunJournalStorage(SqlJournalBackend(url, run_id, exclusive=kind == "sqlite"))  # one runner on SQLite


def sampler_seed(seed: int, runner_id: str, shared: bool, already_asked: int) -> int:
    """The run's seed as is for a fresh single-runner study (reproducible runs);
    otherwise mixed with the runner and the study's progress, so runners sharing
    a study, or a runner resuming one, do not propose the same points again."""
    if not shared and already_asked == 0:
        return seed
    text = f"modelops:sampler|{seed}|{runner_id}|{already_asked}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")
