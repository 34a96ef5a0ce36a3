"""Which runners of a run are alive, so that the leases of those that are not are reclaimed.

- PostgreSQL: each runner beats a heartbeat (the server's clock, so runners'
  clocks need not agree) from a thread of its own, and holds a session
  advisory lock. A runner is gone when its heartbeat is older than the lease
  timeout (it is frozen, partitioned or dead), or sooner when its lock is free
  and it has missed a few beats (it died, and its session went with it). A
  runner only frozen keeps its lock, so the heartbeat is what frees its leases.
- SQLite: one runner, holding an exclusive OS file lock beside the database.

The lease timeout does not depend on how long simulations take: the heartbeat
thread beats while simulations run. Default 30 s, `MODELOPS_LEASE_TIMEOUT_SECONDS`.
So `model.timeout_seconds` needs no lease timeout derived from it: a live
runner's lease is never reclaimed however long its simulation may legitimately
run (the simulation timeout bounds that, and fails the trial), and a runner
that stopped beating loses its leases after the lease timeout whatever its
simulations' timeout; what it finishes later is refused by the ledger.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import threading
import time
from pathlib import Path

from sqlalchemy import Column, Float, MetaData, String, Table, text
from sqlalchemy.engine import Connection, Engine

from .env_seconds import env_seconds
from .storage_retry import is_transient, retried

LEASE_TIMEOUT_ENV = "MODELOPS_LEASE_TIMEOUT_SECONDS"
DEFAULT_LEASE_TIMEOUT = 30.0
HEARTBEAT_SECONDS = 1.0
# A runner whose lock is free and who missed this many beats has died.
DEAD_AFTER_BEATS = 3

metadata = MetaData()
beats = Table(
    "modelops_runner_beats",
    metadata,
    Column("run_id", String(63), primary_key=True),
    Column("runner_id", String(128), primary_key=True),
    Column("beat_at", Float, nullable=False),  # epoch seconds, by the server's clock
)
_NOW = "extract(epoch from clock_timestamp())"
_BEAT = text(
    f"INSERT INTO {beats.name} (run_id, runner_id, beat_at) VALUES (:run, :runner, {_NOW}) "
    f"ON CONFLICT (run_id, runner_id) DO UPDATE SET beat_at = {_NOW}"
)
_AGE = text(f"SELECT {_NOW} - beat_at FROM {beats.name} WHERE run_id = :run AND runner_id = :runner")
_FORGET = text(f"DELETE FROM {beats.name} WHERE run_id = :run AND runner_id = :runner")

log = logging.getLogger(__name__)


class LivenessError(RuntimeError):
    """This runner cannot take its place in the run (its id is in use)."""


def lease_timeout() -> float:
    return env_seconds(LEASE_TIMEOUT_ENV, DEFAULT_LEASE_TIMEOUT, more_than=DEAD_AFTER_BEATS * HEARTBEAT_SECONDS)


class Liveness:
    """Tells whether another runner of this run is gone. The base case has no others."""

    def is_gone(self, runner_id: str) -> bool:
        return True

    def forget(self, runner_id: str) -> None:
        pass

    def release(self) -> None:
        pass


class Heartbeats(Liveness):
    """PostgreSQL: a heartbeat row per runner and a session advisory lock, both kept by a thread of their own.

    The thread's session holds this runner's lock and beats; after an outage it
    takes the lock again. The calibration's thread checks others on a session
    of its own, and right after its own outage trusts heartbeats only, since
    every runner's lock was lost with the server's sessions.
    """

    def __init__(self, engine: Engine, run_id: str, runner_id: str):
        self.engine, self.run_id, self.runner_id = engine, run_id, runner_id
        self.timeout = lease_timeout()
        self._held: set[str] = set()  # other runners' locks taken while checking them
        self._own = self._session()
        if not self._try_lock(self._own, runner_id):
            self._own.close()
            raise LivenessError(f"runner id {runner_id!r} is already running run {run_id!r}; give each runner its own id")
        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.execute(_BEAT, {"run": run_id, "runner": runner_id})
        self.conn = self._session()
        self._recovered_at = -float("inf")
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat_until_stopped, name="modelops-heartbeat", daemon=True)
        self._thread.start()

    def _session(self) -> Connection:
        return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def _key(self, runner_id: str) -> int:
        digest = hashlib.blake2b(f"modelops:runner|{self.run_id}|{runner_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    def _try_lock(self, conn: Connection, runner_id: str) -> bool:
        return bool(conn.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (self._key(runner_id),)).scalar())

    def _beat_until_stopped(self) -> None:
        lost = False
        while not self._stopped.wait(HEARTBEAT_SECONDS):
            try:
                if lost:  # the session and its lock went with the server: take them again
                    self._own.invalidate()
                    self._own = self._session()
                    self._try_lock(self._own, self.runner_id)
                    lost = False
                self._own.execute(_BEAT, {"run": self.run_id, "runner": self.runner_id})
            except Exception as exc:  # an outage: the next beat tries again
                lost = True
                log.debug("heartbeat failed: %s", exc)

    def _reconnect(self) -> None:
        self.conn.invalidate()
        self.conn = self._session()
        self._held.clear()
        self._recovered_at = time.monotonic()

    def is_gone(self, runner_id: str) -> bool:
        return retried(lambda: self._is_gone(runner_id), "checking other runners", on_retry=self._reconnect)

    def _is_gone(self, runner_id: str) -> bool:
        age = self.conn.execute(_AGE, {"run": self.run_id, "runner": runner_id}).scalar()
        if age is not None and age > self.timeout:
            return True  # frozen, partitioned or dead
        if age is not None and age <= DEAD_AFTER_BEATS * HEARTBEAT_SECONDS:
            return False
        if time.monotonic() - self._recovered_at < 2 * DEAD_AFTER_BEATS * HEARTBEAT_SECONDS:
            return False  # after an outage every lock is free: give the others time to beat again
        if runner_id not in self._held and not self._try_lock(self.conn, runner_id):
            return False
        self._held.add(runner_id)
        return True

    def forget(self, runner_id: str) -> None:
        """Its leases are reclaimed: drop its heartbeat and the lock taken while checking it."""

        def forget() -> None:
            self.conn.execute(_FORGET, {"run": self.run_id, "runner": runner_id})
            if runner_id in self._held:
                self._held.discard(runner_id)
                self.conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (self._key(runner_id),))

        retried(forget, "forgetting a runner that is gone", on_retry=self._reconnect)

    def release(self) -> None:
        """Stop beating and drop the heartbeat, so leases left (an interrupted run's) are taken at once."""
        self._stopped.set()
        self._thread.join(HEARTBEAT_SECONDS * 5)
        try:
            self._own.execute(_FORGET, {"run": self.run_id, "runner": self.runner_id})
        except Exception as exc:
            if not is_transient(exc):
                raise
        finally:
            self.conn.close()
            self._own.close()  # ends the session, which frees this runner's lock


class FileLock(Liveness):
    """SQLite serves one runner: an exclusive OS lock beside the database file says which."""

    def __init__(self, database: str):
        self.path = Path(database).with_suffix(Path(database).suffix + ".lock")
        self.handle = open(self.path, "w")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise LivenessError(
                f"another runner is using the SQLite study {database}; SQLite serves one runner, "
                "use PostgreSQL to share a study between runners"
            ) from None

    def release(self) -> None:
        self.handle.close()


def liveness(engine: Engine, run_id: str, runner_id: str) -> Liveness:
    if engine.dialect.name == "postgresql":
        return Heartbeats(engine, run_id, runner_id)
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        return FileLock(database)
    return Liveness()
