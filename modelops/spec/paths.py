"""Where a run document's data files are, once the document is copied elsewhere."""

from __future__ import annotations

import copy
from pathlib import PurePosixPath


def absolute_data_paths(spec: dict, spec_dir: str) -> dict:
    """A copy of a run document whose relative `targets.<name>.data` paths are absolute under `spec_dir`.

    The runner resolves relative paths against the document's folder, and the copy it
    reads (a state folder, a mounted ConfigMap) lives somewhere else.
    """
    spec = copy.deepcopy(spec)
    targets = spec.get("targets")
    for target in targets.values() if isinstance(targets, dict) else ():
        data = target.get("data") if isinstance(target, dict) else None
        if isinstance(data, str) and "://" not in data and not PurePosixPath(data).is_absolute():
            target["data"] = str(PurePosixPath(spec_dir) / data)
    return spec
