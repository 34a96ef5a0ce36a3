"""The one calibration progress bar users see: done/budget, failed count, best loss.

Drawn on stderr by the console event sink (local runs) and by `mops` following
a remote run, so both look the same and stdout stays for results.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def progress_bar(console: Console | None = None, *, disable: bool = False) -> Progress:
    """Tasks need the fields `failed` and `best`."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]}"),
        TextColumn("best {task.fields[best]}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        disable=disable,
    )
