"""The one calibration progress display users see: done/budget, failed count, best loss.

Drawn on stderr by the console event sink (local runs) and by `mops` following
a remote run, so both look the same and stdout stays for results. In a
terminal it is a live bar; elsewhere (a log file, CI) rich would only write
the last state, so it is plain lines instead: at each change of phase, every
tenth of the budget, and at least every `PLAIN_EVERY_SECONDS` while trials finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

PLAIN_EVERY_SECONDS = 10.0


def progress_bar(console: Console | None = None, *, disable: bool = False) -> Progress | PlainProgress:
    """Tasks need the fields `failed` and `best`."""
    console = console or Console(stderr=True)
    if not console.is_terminal and not disable:
        return PlainProgress(console)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]}"),
        TextColumn("best {task.fields[best]}"),
        TimeElapsedColumn(),
        console=console,
        disable=disable,
    )


class PlainProgress:
    """The part of rich's `Progress` the callers use, printing whole lines."""

    def __init__(self, console: Console, *, every_seconds: float = PLAIN_EVERY_SECONDS,
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self._console, self._every_seconds, self._clock = console, every_seconds, clock
        self._tasks: list[dict[str, Any]] = []
        self._started = clock()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        pass

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        self._tasks.append({"description": description, "total": total, "completed": 0, **fields,
                            "printed": None, "printed_at": -float("inf")})  # fmt: skip
        return len(self._tasks) - 1

    def update(self, task_id: int, **changes: Any) -> None:
        task = self._tasks[task_id]
        task.update({k: v for k, v in changes.items() if v is not None or k == "total"})
        printed = task["printed"]
        step = max(1, int((task["total"] or 10) // 10))
        due = (
            printed is None
            or task["description"] != printed["description"]
            or task["completed"] - printed["completed"] >= step
            or (task["completed"] != printed["completed"] and self._clock() - task["printed_at"] >= self._every_seconds)
        )
        if due:
            self._print(task)

    def stop(self) -> None:
        for task in self._tasks:
            if task["printed"] is None or task["completed"] != task["printed"]["completed"]:
                self._print(task)

    def _print(self, task: dict[str, Any]) -> None:
        total = "?" if task["total"] is None else f"{task['total']:g}"
        elapsed = self._clock() - self._started
        self._console.print(
            f"{task['description']} {task['completed']:g}/{total} failed {task.get('failed', 0)} "
            f"best {task.get('best', '-')} {elapsed:.0f}s",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip
        task["printed"] = {"description": task["description"], "completed": task["completed"]}
        task["printed_at"] = self._clock()
