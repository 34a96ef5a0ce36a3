"""SQLAlchemy engines for study storage URLs (the ledger's; the journal tunes its own)."""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool


def ledger_engine(url: str) -> Engine:
    """A SQLAlchemy engine for a study storage URL ("memory" keeps it in this process).

    No ping per checkout (a round trip each): a call on a connection the server
    dropped fails, is retried (`runner.storage_retry`), and SQLAlchemy replaces
    the pool's connections.
    """
    if url == "memory":
        return create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    return create_engine(sqlalchemy_url(url))


def sqlalchemy_url(url: str) -> URL:
    """psycopg 3 is the PostgreSQL driver here; plain `postgresql://` URLs use it too."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed
