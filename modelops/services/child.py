"""The simulation child: a warm process that runs batches of simulations for its parent.

`pool.WarmChild` starts it with the bootstrap in `pool.BOOTSTRAP`. This module
imports only the standard library; `main` imports what simulating and scoring
need before the first request, so a child's start pays for it, never a trial.
The protocol, per
batch: the parent writes one framed pickle (its environment variables if
they changed, entrypoints to preload, simulations as plain tuples, and where
this batch's outcomes go in the spool file, and what to score) to the request pipe; for each
simulation the child records (batch, index, start, where its output begins in
the stdout and stderr files) in the progress file, runs it and appends its
framed outcome to the spool; at the end it writes one byte to the done pipe.
A batch of whole trials may come with the target data to score them against
(`Trials`): their outputs are then scored here and never encoded, and a
trial's last outcome carries its score.
Both files are shared memory maps, so storing a simulation's progress and
outcome takes no system call. What a crash leaves behind (the spool, the
progress, the output files) tells the parent which simulations finished,
which one killed the process, and what it printed.
"""

from __future__ import annotations

import faulthandler
import mmap
import os
import pickle
import shutil
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable

FRAME = struct.Struct("<I")
# batch number, simulation index, time.monotonic() at its start, offsets of its stdout and stderr
PROGRESS = struct.Struct("<IIdQQ")
TAIL_BYTES = 4096
# An output file is emptied before a simulation once it holds more than this (emptying costs ~15 us).
REUSE_BYTES = 1 << 16
# (observed, targets) pairs a child keeps to score trials against; a child serves few runs at a time.
SCORERS_KEPT = 16


def main(argv: list[str]) -> None:
    requests, done, folder = int(argv[0]), int(argv[1]), argv[2]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides when simulations stop
    faulthandler.enable()  # a segfault or abort leaves the Python stack on stderr
    _first_to_go_when_out_of_memory()
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(), folder), daemon=True).start()

    from modelops.entrypoints import load_simulation
    from modelops.scoring import scored  # here, not in a trial: its imports cost ~0.6 s of CPU
    from modelops.services.execute import run_simulation

    spool = Spool(os.path.join(folder, "spool"))
    progress = _shared_record(os.path.join(folder, "progress"))
    scorers: dict[object, tuple] = {}  # (observed, targets) by the key the parent gave them
    batch = 0
    while (request := read_frame(requests)) is not None:
        batch += 1
        variables, preload, simulations, (offset, size), scoring = pickle.loads(request)
        spool.begin(offset, size)
        trials = None if scoring is None else Trials(scorers, scored, *scoring)
        if variables is not None:  # the caller's environment changed since the last batch
            os.environb.clear()
            os.environb.update(variables)
        for entrypoint in preload:
            try:
                load_simulation(entrypoint)
            except Exception:  # reported by the first simulation that needs it
                pass
        _flush()  # what the imports printed belongs to no simulation; each one's own output is flushed after it
        for index, (entrypoint, params, seed, outputs) in enumerate(simulations):
            starts = _start(1), _start(2)
            PROGRESS.pack_into(progress, 0, batch, index, time.monotonic(), *starts)
            tables = None if trials is None else {}
            outcome = run_simulation(entrypoint, params, seed, outputs, tables)
            its_score = None if trials is None else trials.add(index, None if outcome.error else tables)
            _flush()
            tails = (tail(1, starts[0]), tail(2, starts[1])) if outcome.error else None
            spool.append(pickle.dumps((tuple(outcome), tails, its_score), protocol=pickle.HIGHEST_PROTOCOL))
        os.write(done, b".")
    _flush()
    shutil.rmtree(folder, ignore_errors=True)
    os._exit(0)  # nothing left to save: skip the interpreter's teardown, so a closing worker waits for no one


class Trials:
    """A batch's simulations scored here, trial by trial, so their outputs are never encoded.

    `ends` maps the index of each trial's last simulation to (the index of its first, its
    parameters); `spec` is (observed, targets), sent with the first batch that needs `key`.
    """

    def __init__(
        self, scorers: dict, scored: Callable, key: object, spec: tuple | None, ends: dict[int, tuple[int, dict]]
    ):
        if spec is not None:
            if len(scorers) >= SCORERS_KEPT:  # the parent forgets them by the same rule (`WarmChild.run`)
                scorers.clear()
            scorers[key] = spec
        self.observed, self.targets = scorers[key]
        self.ends = ends
        self.held: dict[int, dict | None] = {}
        self.scored = scored

    def add(self, index: int, tables: dict | None) -> dict | None:
        """Keep a simulation's tables (None: it failed); at a trial's last, its score if none failed."""
        self.held[index] = tables
        if index not in self.ends:
            return None
        first, params = self.ends[index]
        outputs = [self.held.pop(i) for i in range(first, index + 1)]
        if any(tables is None for tables in outputs):
            return None  # the parent reports the first failure
        return self.scored(self.targets, self.observed, outputs, params)


class Spool:
    """The spool file mapped into memory: each outcome is stored as a framed record, followed by a zero
    length that ends the spool, and only then given its own length. Whatever ends this process, the file
    holds every record it finished, and nothing after them reads as one (`read_records`)."""

    def __init__(self, path: str):
        fd = os.open(path, os.O_RDWR)
        try:
            self.map = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        self.offset = 0

    def begin(self, offset: int, size: int) -> None:
        """Store this batch's records from `offset` of a file the parent holds at `size` bytes."""
        if len(self.map) != size:  # the parent shrank the file after a batch grew it
            self.map.resize(size)
        self.offset = offset
        FRAME.pack_into(self.map, offset, 0)

    def append(self, record: bytes) -> None:
        start, end = self.offset, self.offset + FRAME.size + len(record)
        if end + FRAME.size > len(self.map):
            self.map.resize(max(2 * len(self.map), end + FRAME.size))  # the file too: the parent reads it
        self.map[start + FRAME.size : end] = record
        FRAME.pack_into(self.map, end, 0)
        FRAME.pack_into(self.map, start, len(record))
        self.offset = end


def read_records(data: mmap.mmap, offset: int) -> tuple[list[bytes], int]:
    """The spool's records from `offset` on, and where they end (a zero length, or the end of `data`)."""
    records = []
    while offset + FRAME.size <= len(data):
        (size,) = FRAME.unpack_from(data, offset)
        end = offset + FRAME.size + size
        if not size or end > len(data):
            break
        records.append(data[offset + FRAME.size : end])
        offset = end
    return records, offset


def read_frame(fd: int) -> bytes | None:
    """One length-prefixed message from a pipe; None at end of file."""
    header = _read_exactly(fd, FRAME.size)
    return None if header is None else _read_exactly(fd, FRAME.unpack(header)[0])


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def tail(fd: int, start: int = 0) -> str:
    """The last `TAIL_BYTES` of an output file written since `start` (all of it if it was cut since), as text."""
    size = os.fstat(fd).st_size
    begin = max(start if start <= size else 0, size - TAIL_BYTES)
    return os.pread(fd, size - begin, begin).decode("utf-8", "replace")


def _shared_record(path: str) -> mmap.mmap:
    """The progress file mapped into memory: a record is stored with no system call, and the parent
    reads it through the page cache, which outlives this process however it ends."""
    fd = os.open(path, os.O_RDWR)
    try:
        return mmap.mmap(fd, PROGRESS.size)
    finally:
        os.close(fd)


def _start(fd: int) -> int:
    """Where the next simulation's output begins in an output file (lseek: a third of fstat's cost)."""
    try:
        size = os.lseek(fd, 0, os.SEEK_END)  # the parent opened it for appending: no write depends on the offset
    except OSError:  # a model pointed the descriptor at a pipe or terminal: no offsets, as fstat says
        size = os.fstat(fd).st_size
    if size <= REUSE_BYTES:
        return size
    os.ftruncate(fd, 0)
    return 0


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a model may close or replace them
            pass


def _first_to_go_when_out_of_memory() -> None:
    """Make the kernel's OOM killer pick this process before the Dask worker or the runner."""
    try:
        with open("/proc/self/oom_score_adj", "w") as adj:
            adj.write("1000")
    except OSError:
        pass


def _exit_when_orphaned(parent: int, folder: str) -> None:
    """A child whose parent died (even mid-simulation) goes too, and takes its folder."""
    while os.getppid() == parent:
        time.sleep(1.0)
    shutil.rmtree(folder, ignore_errors=True)
    os._exit(0)
