"""A run document and its bundle: one way to find the model and its data, everywhere.

An unbundled document (`model.bundle` omitted) is bundled from its folder; a
bundled one (`sha256:...`) is fetched from its store. Either way the model
imports from the bundle's unpacked folder and relative data paths resolve
there, never in the current directory or the runner's image. `installed`
keeps the model where it is importable and data beside the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelops.spec import RunSpec, with_overrides
from modelops.spec.paths import check_bundle_paths

from .activate import INSTALLED, LocalBundle, use_bundle
from .archive import Bundle, build_bundle
from .cache import put


@dataclass(frozen=True)
class OpenedModel:
    spec: RunSpec  # with `model.bundle` the digest when bundled
    base_dir: Path  # where relative data paths resolve
    bundle: LocalBundle | None


def bundled(spec: RunSpec, spec_dir: Path) -> tuple[RunSpec, Bundle]:
    """The document's folder as a bundle, its data paths checked inside it, and the document naming it."""
    bundle = build_bundle(spec_dir)
    check_bundle_paths(spec, [f.path for f in bundle.files])
    return with_overrides(spec, **{"model.bundle": bundle.digest}), bundle


def open_model(spec: RunSpec, spec_dir: Path, store_url: str | None = None, build: bool = True) -> OpenedModel:
    """Make the document's model importable in this process and say where its data is.

    Without `build` (the cluster runner, whose document is a copy away from any
    model folder) an unbundled document is taken as `installed`. Bad input (a bundle over its limit, data outside it, a digest missing from its
    store or not matching its content, a requirement that cannot be installed) is
    an error here, before any simulation.
    """
    if spec.model.bundle == INSTALLED or (spec.model.bundle is None and not build):
        use_bundle(None)
        return OpenedModel(spec, spec_dir, None)
    if spec.model.bundle is None:
        spec, bundle = bundled(spec, spec_dir)
        put(bundle)
    local = use_bundle(spec.model.bundle, store_url)
    return OpenedModel(spec, local.files, local)
