"""Where a run's results go, checked before the first simulation and written as it goes.

- `check_results` writes and deletes a probe, so a bad scheme, a folder under a
  regular file, a read-only place or missing credentials stop the run before
  any work (a `ValueError`: bad input).
- `ResultsWriter.progress` rewrites `trials.parquet` (atomically: a new file or
  blob replaces the old) at most every `RESULTS_EVERY_SECONDS` or every
  `RESULTS_EVERY_TRIALS` trials, so a crash loses only what finished since.
- `ResultsWriter.final` retries a store that is down, then writes to a local
  fallback folder and says why (the run then fails, its summary naming the folder).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modelops.storage import ResultsLocation, open_results
from modelops.storage.local_results import LocalResults

from .results import json_bytes, parquet_bytes, trials_frame
from .trials import TrialRecord

RESULTS_EVERY_SECONDS = 2.0
RESULTS_EVERY_TRIALS = 100
FINAL_ATTEMPTS = 3
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
        self.records: list[TrialRecord] = []  # the last complete list written (or read)

    def _parquet(self, records: Sequence[TrialRecord]) -> bytes:
        return parquet_bytes(trials_frame(records, self._parameters, self._targets))

    def progress(self, records: Callable[[], list[TrialRecord]]) -> None:
        """A trial finished: rewrite `trials.parquet` if the bound says so; a store error only warns."""
        self._unwritten += 1
        now = self._clock()
        if self._unwritten < RESULTS_EVERY_TRIALS and now - self._written_at < RESULTS_EVERY_SECONDS:
            return
        try:
            current = records()
            self.location.write_bytes("trials.parquet", self._parquet(current))
        except Exception as exc:
            if not self._warned:
                log.warning("could not write trials.parquet to %s yet (%s); will retry", self.location, exc)
                self._warned = True
            return
        self.records = current
        self._unwritten, self._written_at = 0, now

    def final(self, records: Sequence[TrialRecord]) -> str | None:
        """Write the final `trials.parquet`; None, or why it went to the fallback folder (`self.location` now)."""
        return self._write("trials.parquet", self._parquet(records))

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
