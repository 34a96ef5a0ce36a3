"""The trial pump: one per Dask worker and run, it runs `worker_tasks` entry points for the runner's calls.

The calls do not travel through Dask: a call through Dask's comm and actor
machinery cost ~1 ms of CPU on each side (message framing and encoding, the
worker's event loop, a hand-off to a thread and back), on the cores the
simulations use, and placing an actor ~25 ms of every run's start. The runner
starts a pump on each worker with `Client.run` (`start`), which listens on a port
of its own on the worker's address for one connection per worker thread (a
"lane"), each served by a thread of its own: read a call, run it, write its
answer, so a lane answers its calls one at a time, in the order written. A pump
lives as long as its lanes: they end when the runner closes them, or its process
or machine goes (`tune`).

A connection first sends the pump's token, which only `start` hands out (through
the scheduler): the port takes calls from the runner that started the pump, no one
else. Then each call is a header (`HEADER`: method, length) and the pickled
payload, and each answer a header (status, length) and the pickled result, or
the pickled exception the method raised.
"""

from __future__ import annotations

import hmac
import pickle
import secrets
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from typing import Any

import dask.config
import polars as pl
from dask.utils import parse_timedelta
from distributed.comm.addressing import get_address_host

from .worker_tasks import run_trials, simulate_group

HEADER = struct.Struct("!BQ")  # a call's method (an index into METHODS) or an answer's status; the body's length
METHODS = ("run_trials", "simulate_group")
OK, RAISED = 0, 1
TOKEN_BYTES = 16
TOKEN_SECONDS = 10.0  # a connection that does not send the token within this long is closed
ACCEPT_SECONDS = 60.0  # a pump whose runner connects no lane (more) for this long stops listening
KEEPALIVE_PROBES = 10


def tune(connection: socket.socket) -> None:
    """No delay for small writes; a peer whose machine vanished (no FIN ever comes) is noticed as Dask's own comms
    notice it, within `distributed.comm.timeouts.tcp`: keepalive probes while idle, a timeout on unacknowledged data.
    """
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    timeout = int(parse_timedelta(dask.config.get("distributed.comm.timeouts.tcp"), default="seconds"))
    interval = max(1, timeout // (2 * KEEPALIVE_PROBES))
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_KEEPIDLE"):  # Linux; elsewhere the system's keepalive times apply
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, timeout - interval * KEEPALIVE_PROBES))
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_PROBES)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, timeout * 1000)


def start(observed: Mapping[str, pl.DataFrame], targets: Mapping, timeout: float | None, threads: int,
          dask_worker: Any) -> tuple[str, int, bytes]:  # fmt: skip
    """Run on a worker (`Client.run`): a pump listening there for `threads` lanes; (host, port, token)."""
    host = get_address_host(dask_worker.address)
    listener = socket.create_server((host, 0), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    token = secrets.token_bytes(TOKEN_BYTES)
    handlers: dict[int, Callable[[Any], Any]] = {
        METHODS.index("run_trials"): lambda trials: run_trials(trials, observed, targets, timeout),
        METHODS.index("simulate_group"): lambda tasks: simulate_group(tasks, timeout),
    }
    server = _Server(listener, token, max(1, threads), handlers)
    threading.Thread(target=server.accept, name="trial-pump-accept", daemon=True).start()
    return host, listener.getsockname()[1], token


class _Server:
    def __init__(self, listener: socket.socket, token: bytes, lanes: int, handlers: Mapping[int, Callable]):
        self._listener, self._token, self._lanes, self._handlers = listener, token, lanes, handlers

    def accept(self) -> None:
        """Take connections until every lane has one (or `ACCEPT_SECONDS` pass without one), then stop listening."""
        self._listener.settimeout(ACCEPT_SECONDS)
        served = 0
        try:
            while served < self._lanes:
                connection, _ = self._listener.accept()
                if self._admitted(connection):
                    served += 1
                    threading.Thread(target=self._serve, args=(connection,), name="trial-pump", daemon=True).start()
        except OSError:  # no runner came (a timeout) for the lanes left
            pass
        finally:
            self._listener.close()

    def _admitted(self, connection: socket.socket) -> bool:
        try:
            connection.settimeout(TOKEN_SECONDS)
            token = connection.recv(TOKEN_BYTES, socket.MSG_WAITALL)
            connection.settimeout(None)
        except OSError:
            token = b""
        if hmac.compare_digest(token, self._token):
            tune(connection)
            return True
        connection.close()
        return False

    def _serve(self, connection: socket.socket) -> None:
        """One lane: each call's answer before the next call is read. Ends when either side closes it."""
        stream = connection.makefile("rb")
        try:
            while len(header := stream.read(HEADER.size)) == HEADER.size:
                method, size = HEADER.unpack(header)
                payload = stream.read(size)
                if len(payload) < size:
                    break
                status, body = self._answer(method, payload)
                connection.sendall(HEADER.pack(status, len(body)) + body)
        except OSError:  # the runner went away
            pass
        finally:
            stream.close()
            connection.close()

    def _answer(self, method: int, payload: bytes) -> tuple[int, bytes]:
        try:
            return OK, pickle.dumps(self._handlers[method](pickle.loads(payload)), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            return RAISED, _pickled(exc)


def _pickled(exc: Exception) -> bytes:
    try:
        pickled = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(pickled)  # some pickle, then cannot be rebuilt (an __init__ with other arguments)
        return pickled
    except Exception:  # an exception that does not travel still reaches the runner, as text
        return pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"), protocol=pickle.HIGHEST_PROTOCOL)
