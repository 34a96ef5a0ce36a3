"""Where a run's results go, checked before the first simulation and written as it goes.

- `check_results` writes and deletes a probe, so a bad scheme, a folder under a
  regular file, a read-only place or missing credentials stop the run before
  any work (a `ValueError`: bad input).
- `ResultsWriter.progress` rewrites `trials.parquet` (atomically: a new file or
  blob replaces the old) every `RESULTS_EVERY_SECONDS` or `RESULTS_EVERY_TRIALS`
  trials, whichever comes first, in a background thread; a crash loses only
  what finished since. The thread keeps the table it wrote last and adds only
  the trials finished since, so a snapshot costs what finished, not the run.
- `ResultsWriter.final` retries a store that is down, then writes to a local
  fallback folder and says why (the run then fails, its summary naming the folder).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from modelops.storage import ResultsLocation, open_results
from modelops.storage.local_results import LocalResults

from .results import json_bytes, parquet_bytes, trials_frame
from .trials import TrialRecord

RESULTS_EVERY_SECONDS = 2.0
RESULTS_EVERY_TRIALS = 100
FINAL_ATTEMPTS = 2
FINAL_BACKOFF_SECONDS = 1.0
FALLBACK_ENV = "MODELOPS_FALLBACK_DIR"

log = logging.getLogger(__name__)


class ResultsUnavailable(RuntimeError):
    """Neither the results store nor the local fallback folder took the final results."""


def check_results(url: str) -> ResultsLocation:
    """The results location, proven writable now; a `ValueError` naming the setting if not."""
    try:
        location = open_results(url)
        probe = f"probe-{secrets.token_hex(4)}.tmp"
        location.write_bytes(probe, b"")
        location.delete(probe)
    except Exception as exc:  # any store's error: what it says is the point
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"results location (--results / MODELOPS_RESULTS_URL) {url!r} is not usable: "
            f"{type(exc).__name__}: {reason}"
        ) from None
    return location


def fallback_folder(run_id: str) -> Path:
    return Path(os.environ.get(FALLBACK_ENV) or "modelops-fallback").absolute() / run_id


class ResultsWriter:
    def __init__(
        self,
        location: ResultsLocation,
        run_id: str,
        parameters: Sequence[str],
        targets: Sequence[str],
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.location = location
        self.run_id = run_id
        self._parameters = list(parameters)
        self._targets = list(targets)
        self._clock = clock
        self._unwritten = 0
        self._written_at = -float("inf")
        self._warned = False
        self.records: list[TrialRecord] = []  # the last complete list written mid-run
        self._cond = threading.Condition()
        self._latest: list[TrialRecord] | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._table: pl.DataFrame | None = None  # the last mid-run snapshot's rows (the background thread's)
        self._tabled: set[int] = set()  # their trial numbers

    def _parquet(self, records: Sequence[TrialRecord]) -> bytes:
        return parquet_bytes(trials_frame(records, self._parameters, self._targets))

    def _snapshot(self, records: list[TrialRecord]) -> bytes:
        """`trials.parquet` for `records` (in lease order), framing only those not in the last snapshot."""
        table, new = self._table, [r for r in records if r.number not in self._tabled]
        part = None if table is None or not new else trials_frame(new, self._parameters, self._targets)
        if table is None or (part is not None and part.schema != table.schema):  # e.g. a categorical became text
            table, self._tabled = trials_frame(records, self._parameters, self._targets), {r.number for r in records}
        elif part is not None:
            later = len(table) > 0 and new[0].number < table["number"][-1]  # finished after trials leased later
            table = pl.concat([table, part])
            table = table.sort("number") if later else table
            self._tabled.update(r.number for r in new)
        self._table = table
        return parquet_bytes(table)

    def progress(self, records: Callable[[], list[TrialRecord]]) -> None:
        """A trial finished: hand `trials.parquet` to the background writer if the bound says so."""
        self._unwritten += 1
        now = self._clock()
        if self._unwritten < RESULTS_EVERY_TRIALS and now - self._written_at < RESULTS_EVERY_SECONDS:
            return
        current = records()
        self._unwritten, self._written_at = 0, now
        with self._cond:
            self._latest = current  # a newer list replaces one not written yet
            self._cond.notify_all()
        if self._thread is None:
            self._thread = threading.Thread(target=self._write_in_background, name="modelops-results", daemon=True)
            self._thread.start()

    def _write_in_background(self) -> None:
        """Writes mid-run, off the engine's thread, so a slow or down store never holds trials up."""
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                self._cond.wait_for(lambda: self._latest is not None or self._closed)
                if self._latest is None:
                    return
                current, self._latest, self._busy = self._latest, None, True
            try:
                self.location.write_bytes("trials.parquet", self._snapshot(current))
            except Exception as exc:
                if not self._warned:
                    log.warning("could not write trials.parquet to %s yet (%s); will retry", self.location, exc)
                    self._warned = True
                continue
            self.records = current

    def _drain(self) -> None:
        """Stop the background writer once it is idle (its last write, if any, done)."""
        with self._cond:
            self._closed, self._latest = True, None
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._busy)

    def final(self, records: Sequence[TrialRecord]) -> str | None:
        """Write the final `trials.parquet`; None, or why it went to the fallback folder (`self.location` now)."""
        self._drain()
        return self._write("trials.parquet", self._parquet(records))

    def write(self, name: str, data: bytes) -> str | None:
        """Write another result file (e.g. `posterior.parquet`), with the same retries and fallback."""
        return self._write(name, data)

    def summary(self, document: dict[str, Any]) -> None:
        """Write `summary.json` beside the final `trials.parquet`."""
        self._write("summary.json", json_bytes(document))

    def _write(self, name: str, data: bytes) -> str | None:
        error: Exception | None = None
        for attempt in range(FINAL_ATTEMPTS):
            try:
                self.location.write_bytes(name, data)
                return None
            except Exception as exc:
                error = exc
                log.warning("writing %s to %s failed (%s), attempt %d", name, self.location, exc, attempt + 1)
                if attempt + 1 < FINAL_ATTEMPTS:
                    time.sleep(FINAL_BACKOFF_SECONDS * 2**attempt)
        folder = fallback_folder(self.run_id)
        reason = f"the results store {self.location} failed {FINAL_ATTEMPTS} times ({type(error).__name__}: {error})"
        try:
            fallback = LocalResults(folder)
            fallback.write_bytes(name, data)
        except Exception as exc:
            raise ResultsUnavailable(f"{reason}; the local fallback folder {folder} failed too: {exc}") from None
        self.location = fallback
        return f"{reason}; results written to the local fallback folder {folder}"
