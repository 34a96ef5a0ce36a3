"""Warm simulation children, pooled by the environment they run in.

A pool is keyed by an `Environment`: the interpreter, the sys.path entries put
first and the working directory. Its environment variables are not part of the
key: a child takes the caller's variables with each batch in which they
changed. The default, `Environment.current()`, is this process's own, so a
model runs as if imported here. A model bundle plugs in by building its own `Environment` (its venv's
python, its folder on the path and as working directory; `modelops` and pyarrow
must be importable there) and passing it to `executor.simulate`: it gets its own
warm children, and entrypoints are imported lazily in each child and cached.

Each `WarmChild` is a process in its own session with a private folder (see
`child` for the protocol); it is replaced when it dies or is stopped.
"""

from __future__ import annotations

import atexit
import json
import mmap
import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .child import FRAME, PROGRESS, SCORERS_KEPT, read_records, tail
from .diagnosis import describe_exit, oom_kills

BOOTSTRAP = (
    "import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
    "from modelops.services.child import main; main(sys.argv[2:])"
)
# How often a waiting parent checks that its child lives and bounds its output.
CHECK_SECONDS = 0.5
# A simulation's stdout or stderr beyond this is cut down to its tail while it runs.
OUTPUT_LIMIT = 1 << 20
# What is kept of it (the tail) when it is cut.
OUTPUT_KEPT = 1 << 14
# The spool of finished outcomes is reused from its start before a batch once it holds more than this.
SPOOL_REUSE_BYTES = 1 << 20
# Its file's size (sparse until written): a batch whose outcomes need more grows it, the next one shrinks it back.
SPOOL_BYTES = 4 << 20
# Time a child may take to start and import the model, beyond a simulation's timeout.
STARTUP_SECONDS = 120.0
# Environments whose children are kept; older ones are closed.
MAX_POOLS = 4

Simulation = tuple[str, dict[str, Any], int, "tuple[str, ...] | None"]  # entrypoint, params, seed, outputs
# Trials scored in the child: a key, (observed, targets), each trial's last simulation -> (its first, its params).
Scoring = tuple[object, tuple, dict[int, tuple[int, dict]]]


@dataclass(frozen=True)
class Environment:
    """Where simulations run; the key of a pool of warm children."""

    python: str
    path: tuple[str, ...]
    cwd: str
    env: tuple[tuple[str | bytes, str | bytes], ...] = field(compare=False)

    @classmethod
    def current(cls) -> Environment:
        """This process's interpreter, path, directory and variables, as they are now."""
        path = tuple(p for p in sys.path if isinstance(p, str))
        return cls(sys.executable, path, os.getcwd(), _environment_variables())


def _environment_variables() -> tuple[tuple[str | bytes, str | bytes], ...]:
    """os.environ as pairs; its raw bytes on POSIX, 15 times cheaper than decoding every value per batch."""
    raw = getattr(os.environ, "_data", None)
    return tuple(raw.items()) if isinstance(raw, dict) else tuple(os.environ.items())


@dataclass(frozen=True)
class Death:
    """How a child ended mid-batch, with the output of the simulation it was running."""

    reason: str
    timed_out: bool
    seconds: float
    stdout: str
    stderr: str


class WarmChild:
    def __init__(self, environment: Environment):
        self.folder = tempfile.mkdtemp(prefix="modelops-sim-")
        paths = {name: os.path.join(self.folder, name) for name in ("spool", "progress", "stdout", "stderr")}
        with open(paths["progress"], "wb") as progress:  # the child maps it: its size is fixed
            progress.write(bytes(PROGRESS.size))
        self._spool = os.open(paths["spool"], os.O_RDWR | os.O_CREAT)
        os.ftruncate(self._spool, SPOOL_BYTES)
        self._records = mmap.mmap(self._spool, SPOOL_BYTES, access=mmap.ACCESS_READ)
        self._spooled = 0  # where the next batch's outcomes begin
        self._progress = os.open(paths["progress"], os.O_RDONLY)
        self._output = [open(paths[name], "a+b", buffering=0) for name in ("stdout", "stderr")]
        request_read, self._requests = os.pipe()
        self._done, done_write = os.pipe()
        self._oom_kills = oom_kills()
        command = [environment.python, "-c", BOOTSTRAP, json.dumps(environment.path)]
        try:
            self.process = subprocess.Popen(
                [*command, str(request_read), str(done_write), self.folder],
                stdin=subprocess.DEVNULL,
                stdout=self._output[0],
                stderr=self._output[1],
                cwd=environment.cwd,
                env=dict(environment.env),
                pass_fds=(request_read, done_write),
                start_new_session=True,  # no terminal signal reaches it; a stop takes the model's own children too
            )
        except OSError:
            os.close(self._requests)
            self._release()
            raise
        finally:
            os.close(request_read)
            os.close(done_write)
        self._waiting = select.poll()
        self._waiting.register(self._done, select.POLLIN)
        self.env = environment.env
        self._scorers: set[object] = set()  # keys of the (observed, targets) it holds
        self.batches = 0
        self.alive = True

    def run(
        self,
        simulations: Sequence[Simulation],
        timeout: float | None = None,
        preload: Sequence[str] = (),
        env: tuple[tuple[str | bytes, str | bytes], ...] | None = None,
        scoring: Scoring | None = None,
    ) -> tuple[list[tuple], Death | None]:
        """Run a batch; the outcomes (with output tails and scores) of the simulations that finished, and how
        it died, if it did. With `scoring` the child scores each trial itself (`child.Trials`)."""
        if self._spooled > SPOOL_REUSE_BYTES:
            self._spooled = 0
            if len(self._records) > SPOOL_BYTES:  # a batch grew it: give the disk back
                self._remap(SPOOL_BYTES)
            os.pwrite(self._spool, bytes(FRAME.size), 0)  # old records follow: a child that dies unread leaves none
        self.batches += 1
        variables = None
        if env is not None and env != self.env:
            variables, self.env = {os.fsencode(k): os.fsencode(v) for k, v in env}, env
        spool = self._spooled, len(self._records)
        if scoring is not None:
            key, spec, ends = scoring
            if key in self._scorers:
                scoring = key, None, ends  # it has them already
            else:  # it keeps them by this rule too
                if len(self._scorers) >= SCORERS_KEPT:
                    self._scorers.clear()
                self._scorers.add(key)
        request = variables, list(preload), list(simulations), spool, scoring
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        sent = time.monotonic()
        try:
            _write_all(self._requests, FRAME.pack(len(payload)) + payload)
        except BrokenPipeError:
            return [], self._death(sent)
        while True:
            wait = CHECK_SECONDS
            if timeout is not None:
                wait = min(wait, self._running(sent)[0] + timeout - time.monotonic())
                if wait <= 0:
                    self.stop()
                    return self._outcomes(), self._death(sent, timeout=timeout)
            if self._waiting.poll(max(wait, 0) * 1000):  # poll, not select: any fd number works
                if os.read(self._done, 1):
                    return self._outcomes(), None
                break  # end of file: the child is gone
            if self.process.poll() is not None:
                break
            self._bound_output()
        return self._outcomes(), self._death(sent)

    def stop(self) -> None:
        """Kill the child and whatever it started."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.alive = False

    def close(self) -> None:
        """End the child (it exits when its requests end) and remove its folder."""
        os.close(self._requests)
        if self.alive:
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.stop()
        self._release()

    def _release(self) -> None:
        self._records.close()
        for fd in (self._done, self._spool, self._progress):
            os.close(fd)
        for output in self._output:
            output.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.alive = False

    def _running(self, sent: float) -> tuple[float, int, int]:
        """When the simulation now running started, and where its stdout and stderr begin.

        Before the first, the child may still be starting and importing the model
        (`STARTUP_SECONDS` more are allowed for that), and all its output counts.
        """
        record = os.pread(self._progress, PROGRESS.size, 0)
        if len(record) == PROGRESS.size:
            batch, _, started, stdout, stderr = PROGRESS.unpack(record)
            if batch == self.batches:
                return started, stdout, stderr
        return sent + STARTUP_SECONDS, 0, 0

    def _outcomes(self) -> list[tuple]:
        """The batch's outcomes in the spool; a record past the end of this map means the child grew the file."""
        records, end = read_records(self._records, self._spooled)
        ended = end + FRAME.size <= len(self._records) and not FRAME.unpack_from(self._records, end)[0]
        if not ended and (size := os.fstat(self._spool).st_size) > len(self._records):
            self._remap(size)
            more, end = read_records(self._records, end)
            records += more
        self._spooled = end
        return [pickle.loads(record) for record in records]

    def _remap(self, size: int) -> None:
        """Map the spool at `size` bytes, setting the file to that size (a child whose map differs follows it)."""
        self._records.close()
        if size != os.fstat(self._spool).st_size:
            os.ftruncate(self._spool, size)
        self._records = mmap.mmap(self._spool, size, access=mmap.ACCESS_READ)

    def _death(self, sent: float, timeout: float | None = None) -> Death:
        started, *starts = self._running(sent)
        if timeout is None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:  # its pipe closed, yet it lingers: finish it
                self.stop()
            reason = describe_exit(self.process.returncode, oom_kills_before=self._oom_kills)
        else:
            reason = f"timed out after {timeout:g} s"
        self.alive = False
        stdout, stderr = (tail(output.fileno(), start) for output, start in zip(self._output, starts))
        return Death(reason, timeout is not None, max(0.0, time.monotonic() - started), stdout, stderr)

    def _bound_output(self) -> None:
        """Cut a flooding simulation's output down to its tail, so a chatty model fills no disk."""
        for output in self._output:
            fd = output.fileno()
            size = os.fstat(fd).st_size
            if size > OUTPUT_LIMIT:
                kept = os.pread(fd, OUTPUT_KEPT, size - OUTPUT_KEPT)
                os.ftruncate(fd, 0)
                os.write(fd, f"[... {size - len(kept)} bytes of output dropped ...]\n".encode() + kept)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Pools:
    """Idle warm children by environment; a child is checked out for one batch at a time."""

    def __init__(self) -> None:
        self._idle: OrderedDict[Environment, list[WarmChild]] = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def checkout(self, environment: Environment) -> WarmChild:
        with self._lock:
            self._adopt_fork()
            idle = self._idle.setdefault(environment, [])
            self._idle.move_to_end(environment)
            evicted = [self._idle.popitem(last=False)[1] for _ in range(len(self._idle) - MAX_POOLS)]
            child = idle.pop() if idle else None
        for children in evicted:
            for old in children:
                old.close()
        return child if child is not None else WarmChild(environment)

    def checkin(self, environment: Environment, child: WarmChild) -> None:
        """Give a child back for reuse (a dead one, or one whose pool was evicted, is closed)."""
        with self._lock:
            idle = self._idle.get(environment) if child.alive and os.getpid() == self._pid else None
            if idle is not None:
                idle.append(child)
                return
        child.close()

    def close(self) -> None:
        with self._lock:
            pools, self._idle = list(self._idle.values()), OrderedDict()
        for children in pools:
            for child in children:
                child.close()

    def _adopt_fork(self) -> None:
        """A forked process inherits the registry but not the children: start empty."""
        if os.getpid() != self._pid:
            self._idle, self._pid = OrderedDict(), os.getpid()


POOLS = Pools()
atexit.register(POOLS.close)
