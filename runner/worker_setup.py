"""Preloaded into each local Dask worker process: Ctrl-C is the runner's to handle.

A terminal's Ctrl-C reaches the whole process group; a worker killed by it
would lose the in-flight trials the runner is giving a grace period to finish.
"""

from __future__ import annotations

import signal
import threading


def dask_setup(worker: object) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
