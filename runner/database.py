"""SQLAlchemy engines for study storage URLs (the ledger's; the journal tunes its own)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url


def ledger_engine(url: str) -> Engine:
    """A SQLAlchemy engine for a SQLite or PostgreSQL study storage URL (a "memory" ledger has none).

    No ping per checkout (a round trip each): a call on a connection the server
    dropped fails, is retried (`runner.storage_retry`), and SQLAlchemy replaces
    the pool's connections.
    """
    engine = create_engine(sqlalchemy_url(url))
    return fast_sqlite(engine) if engine.dialect.name == "sqlite" else engine


def fast_sqlite(engine: Engine) -> Engine:
    """`engine`'s SQLite connections in WAL mode without an fsync per commit (the journal's and the ledger's alike).

    WAL: a commit appends to the log instead of rewriting pages; NORMAL: the log
    is synced at checkpoints, not at each commit, which is safe from a process
    crash (the runner's), not from losing power.
    """
    event.listen(engine, "connect", _wal_without_sync_per_commit)
    return engine


def _wal_without_sync_per_commit(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def sqlalchemy_url(url: str) -> URL:
    """psycopg 3 is the PostgreSQL driver here; plain `postgresql://` URLs use it too."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed
