"""Why a simulation child died, in words a modeller can act on.

A child killed by SIGKILL that the executor did not send was, on Linux, almost
always killed by the kernel's OOM killer. That is only claimed when the kernel
says so: an OOM-kill counter went up while the child lived — the memory
cgroup's (`memory.events` on cgroup v2, `memory.oom_control` on v1; in a
container or a Kubernetes pod, the one the memory limit applies to) or the
machine's (`oom_kill` in /proc/vmstat).
"""

from __future__ import annotations

import signal
from pathlib import Path

OOM = "killed by the kernel: out of memory"


def oom_kills() -> int:
    """OOM kills the kernel has counted for this process's memory cgroup and machine (0 where unreadable)."""
    return sum(_counter(path, "oom_kill") for path in _counter_files())


def describe_exit(returncode: int, *, oom_kills_before: int | None = None) -> str:
    """"exited with code 3", "killed by signal SIGSEGV (Segmentation fault)", or the OOM diagnosis."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    number = -returncode
    if number == signal.SIGKILL and oom_kills_before is not None and oom_kills() > oom_kills_before:
        return f"{OOM} (SIGKILL)"
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"killed by signal {number}"
    meaning = signal.strsignal(number)
    return f"killed by signal {name}" + (f" ({meaning})" if meaning and not meaning.startswith("Unknown") else "")


def _counter_files() -> list[Path]:
    files = [Path("/proc/vmstat")]
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return files
    root = Path("/sys/fs/cgroup")
    for line in lines:
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if controllers == "":  # cgroup v2 (unified)
            candidates = [root / relative / "memory.events", root / "memory.events"]
        elif "memory" in controllers.split(","):  # cgroup v1
            candidates = [root / "memory" / relative / "memory.oom_control", root / "memory" / "memory.oom_control"]
        else:
            continue
        files += [next((c for c in candidates if c.is_file()), candidates[0])]
    return files


def _counter(path: Path, name: str) -> int:
    """A "name value" line's value in a kernel counter file, 0 if missing."""
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == name:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0
