"""Bundles unpacked on this machine, one folder per digest, bounded in size.

Fetching a digest already here costs a stat; otherwise the archive is read from
its store, verified, unpacked beside the cache and renamed into place, so
processes fetching the same digest at once never see half a bundle. When the
cache grows past its bound, the bundles used longest ago are removed.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import uuid
from pathlib import Path

from .archive import Bundle, check_digest
from .select import BundleError
from .store import BundleStore

CACHE_ENV = "MODELOPS_BUNDLE_CACHE"
CACHE_BYTES_ENV = "MODELOPS_BUNDLE_CACHE_BYTES"
DEFAULT_CACHE_BYTES = 4 * 2**30
FILES = "files"  # the bundle's own files, under <cache>/<hex>/
USED = ".used"  # touched on every fetch: the LRU clock
STORE_HINT = "set MODELOPS_BUNDLE_STORE to the store it was pushed to"


def cache_root(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get(CACHE_ENV) or Path.home() / ".cache" / "modelops" / "bundles")


def cached_path(digest: str, root: Path | None = None) -> Path:
    """Where `digest`'s files are (or would be) unpacked."""
    return (root or cache_root()) / check_digest(digest).removeprefix("sha256:") / FILES


def fetch(digest: str, store_url: str | None, root: Path | None = None, max_bytes: int | None = None) -> Path:
    """The folder holding `digest`'s files, fetched from `store_url` and verified unless already here."""
    root = root or cache_root()
    files = cached_path(digest, root)
    if _hit(files):
        return files
    if not store_url:
        raise BundleError(f"bundle {digest} is not on this machine and no bundle store was given ({STORE_HINT})")
    return _install(digest, BundleStore(store_url).get(digest), root, max_bytes)


def put(bundle: Bundle, root: Path | None = None, max_bytes: int | None = None) -> Path:
    """A bundle built here, unpacked into the cache (as a fetch would), without a store."""
    root = root or cache_root()
    files = cached_path(bundle.digest, root)
    if _hit(files):
        return files
    return _install(bundle.digest, gzip.decompress(bundle.archive), root, max_bytes)


def _hit(files: Path) -> bool:
    """Whether the bundle is here already; a hit counts as a use for the LRU."""
    if not files.is_dir():
        return False
    (files.parent / USED).touch()
    return True


def _install(digest: str, tar: bytes, root: Path, max_bytes: int | None) -> Path:
    files = cached_path(digest, root)
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{files.parent.name}.{uuid.uuid4().hex}.tmp"
    try:
        unpack(tar, staging / FILES)
        (staging / USED).touch()
        try:
            os.rename(staging, files.parent)
        except OSError:  # another process put the same digest in place first
            if not files.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    evict(root, keep=files.parent, max_bytes=_cache_bytes() if max_bytes is None else max_bytes)
    return files


def unpack(tar: bytes, into: Path) -> None:
    """Unpack a verified tar; the `data` filter refuses links, devices and paths out of `into`."""
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
        archive.extractall(into, filter="data")


def evict(root: Path, keep: Path, max_bytes: int) -> list[str]:
    """Remove the least recently used bundles until the cache is within `max_bytes`; their names."""
    entries = []
    for entry in root.iterdir():
        if entry.is_dir() and not entry.name.startswith("."):
            used = entry / USED
            entries.append((used.stat().st_mtime if used.exists() else 0.0, entry, _size(entry)))
    total = sum(size for _, _, size in entries)
    removed = []
    for _, entry, size in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes:
            break
        if entry == keep:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        total -= size
        removed.append(entry.name)
    return removed



def _cache_bytes() -> int:
    value = os.environ.get(CACHE_BYTES_ENV)
    try:
        return int(value) if value else DEFAULT_CACHE_BYTES
    except ValueError:
        raise BundleError(f"{CACHE_BYTES_ENV}={value!r} is not a number of bytes") from None


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
