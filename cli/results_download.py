"""Copy a run's result files from its results location (a folder or a blob prefix) to a local folder."""

from __future__ import annotations

from pathlib import Path

from modelops.storage import LocalTarget, open_results, parse_results_url

RESULT_FILES = ("trials.parquet", "summary.json")


def download_results(url: str, folder: Path) -> tuple[list[Path], list[str]]:
    """(files copied, names missing at the location). A folder that is not on this machine is an error,
    checked first because opening a local location would create it."""
    target = parse_results_url(url)
    if isinstance(target, LocalTarget) and not target.folder.is_dir():
        raise FileNotFoundError(f"results folder {target.folder} is not on this machine")
    location = open_results(url)
    folder.mkdir(parents=True, exist_ok=True)
    copied, missing = [], []
    for name in RESULT_FILES:
        if not location.exists(name):
            missing.append(name)
            continue
        path = folder / name
        path.write_bytes(location.read_bytes(name))
        copied.append(path)
    return copied, missing
