"""Results in a local folder, written atomically so readers never see half a file."""

from __future__ import annotations

import os
import pathlib
import uuid

from modelops.storage.results_url import check_name


class LocalResults:
    def __init__(self, folder: pathlib.Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def __str__(self) -> str:
        return str(self.folder)

    def url_for(self, name: str) -> str:
        return str(self._path(name))

    def write_bytes(self, name: str, data: bytes) -> None:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Hidden temp names cannot collide with results: check_name forbids a leading '.'.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def read_bytes(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def delete(self, name: str) -> None:
        """Remove one result; a missing one is already gone."""
        self._path(name).unlink(missing_ok=True)

    def list(self) -> list[str]:
        return sorted(
            path.relative_to(self.folder).as_posix()
            for path in self.folder.rglob("*")
            if path.is_file() and not any(p.startswith(".") for p in path.relative_to(self.folder).parts)
        )

    def _path(self, name: str) -> pathlib.Path:
        return self.folder / check_name(name)
