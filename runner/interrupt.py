"""SIGINT and SIGTERM stop a calibration gracefully; a second SIGINT exits at once.

Kubernetes evicts a pod with SIGTERM, people press Ctrl-C: either way the run
stops asking, gives in-flight trials a grace period, and writes what it has.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interruption:
    """Which signal asked the run to stop (None: none), and whom to tell."""

    def __init__(self, grace: float):
        self.grace = grace
        self.signal: int | None = None
        self._stop: Callable[[float], None] | None = None

    @property
    def name(self) -> str | None:
        return None if self.signal is None else signal.Signals(self.signal).name

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + (self.signal or 0)

    def attach(self, stop: Callable[[float], None]) -> None:
        """`stop(grace)` is called on a signal, at once if one came before."""
        self._stop = stop
        if self.signal is not None:
            stop(self.grace)

    def _handle(self, signum: int, frame: object) -> None:
        if self.signal is not None:
            if signum == signal.SIGINT:
                os.write(2, b"interrupted again: exiting now\n")
                os._exit(128 + signum)
            return
        self.signal = signum
        os.write(2, f"{self.name}: stopping; in-flight trials have {self.grace:g} s to finish "
                    "(Ctrl-C again to exit at once)\n".encode())  # fmt: skip
        if self._stop is not None:
            self._stop(self.grace)


@contextlib.contextmanager
def graceful_stop(grace: float) -> Iterator[Interruption]:
    """Catch SIGINT and SIGTERM while the context runs (only the main thread can)."""
    interruption = Interruption(grace)
    if threading.current_thread() is not threading.main_thread():
        yield interruption
        return
    previous = {sig: signal.signal(sig, interruption._handle) for sig in SIGNALS}
    try:
        yield interruption
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
