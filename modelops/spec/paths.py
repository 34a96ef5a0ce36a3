"""Where a run document's data files are: inside its bundle, or (unbundled) beside the document."""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Collection
from pathlib import PurePosixPath

from .errors import FieldError, SpecError
from .run import RunSpec


def absolute_data_paths(spec: dict, spec_dir: str) -> dict:
    """A copy of a run document whose relative `targets.<name>.data` paths are absolute under `spec_dir`.

    The runner resolves relative paths against the document's folder, and the copy it
    reads (a state folder, a mounted ConfigMap) lives somewhere else. A bundled
    document (`model.bundle` a digest) is returned as it is: its paths resolve in the bundle.
    """
    if str((spec.get("model") or {}).get("bundle") or "").startswith("sha256:"):
        return copy.deepcopy(spec)
    spec = copy.deepcopy(spec)
    targets = spec.get("targets")
    for target in targets.values() if isinstance(targets, dict) else ():
        data = target.get("data") if isinstance(target, dict) else None
        if isinstance(data, str) and "://" not in data and not PurePosixPath(data).is_absolute():
            target["data"] = str(PurePosixPath(spec_dir) / data)
    return spec


def check_bundle_paths(spec: RunSpec, bundle_files: Collection[str]) -> None:
    """Every target's data is a blob URL or a file of the bundle; else a `SpecError` naming each one."""
    files = set(bundle_files)
    errors = []
    for name, target in spec.targets.items():
        data = target.data
        if "://" in data and not data.startswith("file://"):
            continue
        path = posixpath.normpath(data.removeprefix("file://"))
        if PurePosixPath(path).is_absolute() or path.startswith("../") or path == "..":
            problem = f"{data} is outside the document's folder; a bundled run reads data from its bundle or a blob URL"
        elif path not in files:
            problem = f"{data} is not in the bundle (missing, or left out by .modelopsignore)"
        else:
            continue
        errors.append(FieldError(("targets", name, "data"), problem))
    if errors:
        raise SpecError(errors)
