"""Importing a model from its bundle, in this process.

`use_bundle(digest)` fetches the bundle (once), installs its requirements (once
per digest), and puts its folder first on `sys.path`. Switching to another
bundle takes the previous one off the path and forgets the modules imported
from it, so two bundles that both have a `model.py` never see each other's.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from .archive import check_digest
from .cache import fetch
from .requirements import prepare_requirements
from .store import STORE_ENV

INSTALLED = "installed"  # the model is importable where it runs; no bundle


@dataclass(frozen=True)
class LocalBundle:
    digest: str
    files: Path  # the bundle's own folder: models import, and data paths resolve, from here
    site: Path | None  # its installed requirements, if the runner lacked some

    @property
    def paths(self) -> list[str]:
        return [str(self.files)] + ([str(self.site)] if self.site else [])


_prepared: dict[str, LocalBundle] = {}
_active: LocalBundle | None = None
_lock = threading.Lock()
_default_store: str | None = None


def set_default_store(url: str | None) -> None:
    """Where `use_bundle` fetches digests from when not told (a worker plugin sets it)."""
    global _default_store
    _default_store = url


def prepare(digest: str, store_url: str | None = None) -> LocalBundle:
    """`digest` fetched, verified and its requirements installed: ready to import from."""
    check_digest(digest)
    with _lock:
        if digest not in _prepared:
            files = fetch(digest, store_url or _default_store or os.environ.get(STORE_ENV))
            _prepared[digest] = LocalBundle(digest, files, prepare_requirements(files))
        return _prepared[digest]


def use_bundle(bundle_ref: str | None, store_url: str | None = None) -> LocalBundle | None:
    """Make `bundle_ref` the bundle this process imports models from (none for 'installed')."""
    global _active
    wanted = None if bundle_ref in (None, "", INSTALLED) else bundle_ref
    if (_active.digest if _active else None) == wanted:  # the hot path: every task asks
        return _active
    bundle = None if wanted is None else prepare(wanted, store_url)
    with _lock:
        if _active is not None:
            _forget(_active)
        if bundle is not None:
            sys.path[:0] = bundle.paths
        _active = bundle
    from modelops.entrypoints import load_object, load_simulation

    load_object.cache_clear()
    load_simulation.cache_clear()
    return bundle


def _forget(bundle: LocalBundle) -> None:
    """Take `bundle` off `sys.path` and drop the modules it provided."""
    roots = bundle.paths
    sys.path[:] = [p for p in sys.path if p not in roots]
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None) or ""
        if any(origin.startswith(root + os.sep) for root in roots):
            del sys.modules[name]
