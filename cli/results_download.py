"""Copy a run's result files from its results location (a folder or a blob prefix) to a local folder."""

from __future__ import annotations

from pathlib import Path

from modelops.storage import LocalTarget, open_results, parse_results_url

RESULT_FILES = ("trials.parquet", "summary.json")
# What a report needs beside them, when the run kept it (see runner.report.results_folder).
REPORT_FILES = ("run.json", "posterior.parquet")
REPORT_PREFIXES = ("observed_", "best_fit_", "posterior_fit_")


def download_results(url: str, folder: Path) -> tuple[list[Path], list[str]]:
    """(files copied, required names missing at the location); the report's files come along when present. A folder that is not on this machine is an error,
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
        copied.append(_copy(location, name, folder))
    copied += [
        _copy(location, name, folder)
        for name in location.list()
        if "/" not in name and (name in REPORT_FILES or name.startswith(REPORT_PREFIXES) and name.endswith(".parquet"))
    ]
    return copied, missing


def _copy(location, name: str, folder: Path) -> Path:
    path = folder / name
    path.write_bytes(location.read_bytes(name))
    return path
