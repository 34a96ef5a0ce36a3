"""Start real Azurite and PostgreSQL servers for tests, on free loopback ports.

Tests run against the real services rather than fakes; a machine without them
skips those tests, except in CI (`MODELOPS_REQUIRE_SERVICES=1`), where a
missing service must fail loudly instead of passing silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite"
LOOPBACK = "127.0.0.1"
# An upper bound on a service coming up, not its expected time: a busy machine starts node slowly.
START_TIMEOUT_S = 120.0

# Azurite's well-known development account, as documented by Azurite itself
# (public, not a secret; it only opens the local emulator).
AZURITE_ACCOUNT_NAME = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def service_unavailable(reason: str) -> None:
    """Skip the test, or fail it when the environment requires real services."""
    if os.environ.get("MODELOPS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports that were free a moment ago (hold all, then release)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in socks]


def _accepts_connections(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
        return True
    return False


@dataclasses.dataclass(frozen=True)
class AzuriteService:
    blob_endpoint: str
    queue_endpoint: str
    table_endpoint: str
    account_name: str = AZURITE_ACCOUNT_NAME

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={AZURITE_ACCOUNT_KEY};BlobEndpoint={self.blob_endpoint};"
            f"QueueEndpoint={self.queue_endpoint};TableEndpoint={self.table_endpoint};"
        )


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate `proc` and wait for it; kill it if it outlives `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def run_azurite(workdir: pathlib.Path) -> Iterator[AzuriteService]:
    """Run Azurite (strict API checks, no telemetry) until the context exits."""
    if not AZURITE_BIN.exists():
        service_unavailable(f"{AZURITE_BIN.relative_to(REPO_ROOT)} is missing (run `make services-deps`)")
    if shutil.which("node") is None:
        service_unavailable("node is not on PATH (run `make services-deps`)")
    blob, queue, table = free_ports(3)
    log_path = workdir / "azurite.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(AZURITE_BIN), "--silent", "--skipApiVersionCheck", "--disableTelemetry",
             "--location", str(workdir), "--blobPort", str(blob),
             "--queuePort", str(queue), "--tablePort", str(table)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
        )
    try:
        started = time.monotonic()
        while not all(_accepts_connections(p) for p in (blob, queue, table)):
            waited = time.monotonic() - started
            if proc.poll() is not None or waited > START_TIMEOUT_S:
                state = f"exited {proc.returncode}" if proc.poll() is not None else f"not listening after {waited:.0f} s"
                raise RuntimeError(f"Azurite did not start ({state}):\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        endpoint = f"http://{LOOPBACK}:{{}}/{AZURITE_ACCOUNT_NAME}".format
        yield AzuriteService(endpoint(blob), endpoint(queue), endpoint(table))
    finally:
        stop_process(proc)


@dataclasses.dataclass(frozen=True)
class PostgresService:
    host: str
    port: int
    user: str
    dbname: str
    pg_ctl: tuple[str, ...] = dataclasses.field(default=(), compare=False, repr=False)
    workdir: pathlib.Path | None = dataclasses.field(default=None, compare=False, repr=False)

    def stop(self) -> None:
        """Stop the server at once, as a crash or fail-over would (fault tests; own server only)."""
        _run([*self.pg_ctl, "-m", "immediate", "-w", "-t", "30", "stop"], cwd=self.workdir)

    def start(self) -> None:
        _run([*self.pg_ctl, "-l", str(self.workdir / "postgres.log"), "-o", f"-p {self.port}",
              "-w", "-t", str(int(START_TIMEOUT_S)), "start"], cwd=self.workdir)

    def accepts_connections(self) -> bool:
        return _accepts_connections(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        return self.url_for(self.dbname)

    def create_database(self) -> str:
        """Create an empty database with a fresh name and return its URL."""
        import psycopg

        name = f"test_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(host=self.host, port=self.port, user=self.user,
                             dbname=self.dbname, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)


def _postgres_bindir() -> pathlib.Path | None:
    on_path = shutil.which("pg_ctl")
    if on_path:
        return pathlib.Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(pathlib.Path(p).parts[-3]))
    return pathlib.Path(found[-1]).parent if found else None


def _as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root, so root runs it as `postgres`."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        service_unavailable("running as root needs a `postgres` user to run PostgreSQL")
    return ["runuser", "-u", "postgres", "--"]


def _run(cmd: list[str], cwd: pathlib.Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}")


@contextlib.contextmanager
def run_postgres(durable: bool = False) -> Iterator[PostgresService]:
    """Run a throwaway PostgreSQL cluster (trust auth, loopback only) until exit.

    Fast by default (no fsync, asynchronous commits); `durable` keeps every
    acknowledged commit across a crash, as a real server does, for fault tests.
    """
    bindir = _postgres_bindir()
    if bindir is None:
        service_unavailable("PostgreSQL server binaries not found (run `make services-deps`)")
    as_user = _as_server_user()
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="modelops-pg-"))
    data = workdir / "data"
    pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(data)]
    try:
        if as_user:
            entry = pwd.getpwnam("postgres")
            os.chown(workdir, entry.pw_uid, entry.pw_gid)
        _run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
              "-E", "UTF8", "--locale=C", "--no-sync"], cwd=workdir)
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(f"listen_addresses = '{LOOPBACK}'\nunix_socket_directories = '{workdir}'\n")
            if not durable:
                conf.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        port = free_ports(1)[0]
        service = PostgresService(LOOPBACK, port, "postgres", "postgres", tuple(pg_ctl), workdir)
        service.start()
        yield service
    finally:
        try:
            _stop_postgres(pg_ctl, data, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _stop_postgres(pg_ctl: list[str], data: pathlib.Path, workdir: pathlib.Path) -> None:
    """Stop the cluster if it runs; kill the postmaster if pg_ctl cannot."""
    pid_file = data / "postmaster.pid"
    if not pid_file.exists():
        return
    try:
        _run([*pg_ctl, "-m", "immediate", "-w", "-t", "30", "stop"], cwd=workdir)
    except RuntimeError:
        with contextlib.suppress(ProcessLookupError, ValueError, FileNotFoundError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        raise
