"""Open a results location by URL, so callers never branch on local versus blob."""

from __future__ import annotations

from typing import Protocol

from modelops.storage.local_results import LocalResults
from modelops.storage.results_url import LocalTarget, parse_results_url


class ResultsLocation(Protocol):
    """Named byte blobs (`a.json`, `runs/r1.parquet`) under one folder or blob prefix."""

    def write_bytes(self, name: str, data: bytes) -> None: ...
    def read_bytes(self, name: str) -> bytes: ...
    def exists(self, name: str) -> bool: ...
    def delete(self, name: str) -> None: ...
    def list(self) -> list[str]: ...
    def url_for(self, name: str) -> str: ...
    def __str__(self) -> str: ...


def open_results(url: str) -> ResultsLocation:
    """A folder path, `file://` URL, or blob URL; a local folder is created now."""
    target = parse_results_url(url)
    if isinstance(target, LocalTarget):
        return LocalResults(target.folder)
    from modelops.storage.blob_results import BlobResults, container_client  # needs the runner extra

    return BlobResults(target, container_client(target))
