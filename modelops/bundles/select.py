"""Which files of a model folder go into its bundle: all, minus `.modelopsignore` (gitignore syntax).

A few patterns are left out by default — version control, Python caches,
virtual environments, `runs/` (where `mops run` writes results) and SQLite
studies with their journal and lock files (`sqlite:///study.db` beside the
document), which would otherwise change the next bundle's digest and so refuse
the resume they exist for. A `!pattern` line in
`.modelopsignore` brings any of them back.
"""

from __future__ import annotations

import os
from pathlib import Path

import pathspec

IGNORE_FILE = ".modelopsignore"
DEFAULT_IGNORES = (
    ".git/", ".hg/", ".svn/", "__pycache__/", "*.py[cod]", ".venv/", "venv/", ".ipynb_checkpoints/",
    ".pytest_cache/", ".mypy_cache/", ".DS_Store", "runs/", "*.egg-info/",
    "*.db", "*.db-journal", "*.db-wal", "*.db-shm", "*.db.lock", "*.sqlite", "*.sqlite3",
)  # fmt: skip


class BundleError(ValueError):
    """A bundle cannot be built, stored, fetched or trusted; the message says why."""


def ignore_spec(folder: Path) -> pathspec.PathSpec:
    """The defaults followed by the folder's own `.modelopsignore`, so its lines win."""
    lines = list(DEFAULT_IGNORES)
    own = folder / IGNORE_FILE
    if own.is_file():
        lines += own.read_text(encoding="utf-8").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def select_files(folder: Path) -> list[str]:
    """Relative '/'-separated paths of the regular files the bundle holds, sorted.

    Symbolic links to files inside the folder count as those files; any other
    link is refused, so a bundle never depends on what lies outside its folder.
    """
    if not folder.is_dir():
        raise BundleError(f"bundle folder {folder} is not a folder")
    root = folder.resolve()
    spec = ignore_spec(folder)
    chosen: list[str] = []
    for current, dirs, files in os.walk(folder):
        rel_dir = Path(current).relative_to(folder).as_posix()
        prefix = "" if rel_dir == "." else f"{rel_dir}/"
        kept_dirs = []
        for name in sorted(dirs):
            rel = f"{prefix}{name}"
            if spec.match_file(f"{rel}/"):
                continue
            if (Path(current) / name).is_symlink():
                raise BundleError(f"{rel} is a link to a folder; a bundle holds regular files only")
            kept_dirs.append(name)
        dirs[:] = kept_dirs
        for name in files:
            rel = f"{prefix}{name}"
            if spec.match_file(rel):
                continue
            path = Path(current) / name
            if path.is_symlink() and not _inside(path.resolve(), root):
                raise BundleError(f"{rel} links outside the bundle folder ({folder})")
            if not path.is_file():
                raise BundleError(f"{rel} is not a regular file")
            chosen.append(rel)
    return sorted(chosen)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
