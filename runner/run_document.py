"""A resumed run must be the run it was: its document is compared with the one it started with.

Only how much to run and on what (`budget`, `compute`) may change on resume,
and `model.bundle`: `mops run` bundles the document's folder, which a run's own
files (a SQLite study, logs, results) change between starts; the summary's
provenance records the bundle each runner used. Any other difference is
refused, naming the fields, unless the user forces it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


class SpecMismatch(ValueError):
    """A run resumed with a document that differs from the one it started with."""

    def __init__(self, run_id: str, paths: list[str]):
        shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
        super().__init__(
            f"run {run_id!r} was started with a different run document (it differs in {shown}); "
            "use a new run id, or --force to go on with this document"
        )
        self.paths = paths


# Parts of a run document that may change when a run is resumed: how much to run, and on what.
RESUMABLE_CHANGES = ("budget", "compute")


def compared_document(document: dict[str, Any]) -> dict[str, Any]:
    compared = {key: value for key, value in document.items() if key not in RESUMABLE_CHANGES}
    if isinstance(compared.get("model"), dict):
        compared["model"] = {key: value for key, value in compared["model"].items() if key != "bundle"}
    return compared


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """Dotted paths where two JSON documents differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            found
            for key in sorted(set(old) | set(new), key=str)
            for found in differences(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        ]
    return [] if old == new else [path or "(the document)"]


def document_json(document: dict[str, Any] | None) -> str | None:
    return None if document is None else json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)


def document_digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(document_json(document).encode()).hexdigest()
