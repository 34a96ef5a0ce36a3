"""What a run's results are traceable to: the bundle, the document, each target file, the runner's version."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from modelops import __version__

from .spec import RunSpec, spec_digest
from .targets import target_bytes


def provenance(spec: RunSpec, base_dir: Path) -> dict[str, Any]:
    """Digests of the code and data a run uses, for `summary.json` and the run's status."""
    return {
        "bundle": spec.model.bundle_ref,
        "spec_sha256": spec_digest(spec),
        "targets": {
            name: {"data": target.data, "sha256": hashlib.sha256(target_bytes(target.data, base_dir)).hexdigest()}
            for name, target in spec.targets.items()
        },
        "runner_version": __version__,
    }
