"""A model folder as a canonical, reproducible archive named by its SHA-256.

The digest is taken over an uncompressed tar whose bytes depend only on the
files' relative paths, contents and executable bits (sorted, zero times and
owners), so the same files give the same digest on any machine. The archive is
stored gzip-compressed; compression never enters the digest, so a different
zlib cannot change it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .select import BundleError, select_files

DIGEST_PREFIX = "sha256:"
DEFAULT_MAX_BYTES = 256 * 2**20
MAX_BYTES_ENV = "MODELOPS_BUNDLE_MAX_BYTES"


@dataclass(frozen=True)
class BundleFile:
    path: str  # relative, '/'-separated
    size: int


@dataclass(frozen=True)
class Bundle:
    digest: str  # "sha256:<64 hex>"
    files: tuple[BundleFile, ...]
    archive: bytes  # gzip of the canonical tar

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def max_bytes_from_env(env: dict[str, str] | None = None) -> int:
    value = (os.environ if env is None else env).get(MAX_BYTES_ENV)
    if not value:
        return DEFAULT_MAX_BYTES
    try:
        return int(value)
    except ValueError:
        raise BundleError(f"{MAX_BYTES_ENV}={value!r} is not a number of bytes") from None


def build_bundle(folder: str | Path, max_bytes: int | None = None) -> Bundle:
    """The bundle of `folder`: every file `.modelopsignore` (and the defaults) keep, at most `max_bytes` in all."""
    folder = Path(folder)
    limit = max_bytes_from_env() if max_bytes is None else max_bytes
    paths = select_files(folder)
    sizes = [(path, (folder / path).stat().st_size) for path in paths]
    total = sum(size for _, size in sizes)
    if total > limit:
        largest = ", ".join(f"{p} ({_mb(s)})" for p, s in sorted(sizes, key=lambda x: -x[1])[:5])
        raise BundleError(
            f"bundle {folder} is {_mb(total)}, over the {_mb(limit)} limit ({MAX_BYTES_ENV}); "
            f"largest files: {largest}. Leave files out with .modelopsignore, or read large data from a blob URL"
        )
    tar = canonical_tar(folder, paths)
    digest = digest_of_tar(tar)
    archive = gzip.compress(tar, compresslevel=1, mtime=0)  # the digest is of the tar: compression is free to pick
    return Bundle(digest, tuple(BundleFile(p, s) for p, s in sizes), archive)


def canonical_tar(folder: Path, paths: list[str]) -> bytes:
    """The tar of `paths` under `folder`: sorted, regular files only, no times, owners or modes but +x."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(paths):
            data = (folder / path).read_bytes()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o755 if os.stat(folder / path).st_mode & stat.S_IXUSR else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def digest_of_tar(tar: bytes) -> str:
    """The digest of an (uncompressed) canonical tar, whatever it is named."""
    return DIGEST_PREFIX + hashlib.sha256(tar).hexdigest()


def check_digest(digest: str) -> str:
    """`digest` if it reads `sha256:<64 lowercase hex>`."""
    hex_part = digest.removeprefix(DIGEST_PREFIX)
    if not digest.startswith(DIGEST_PREFIX) or len(hex_part) != 64 or set(hex_part) - set("0123456789abcdef"):
        raise BundleError(f"bundle reference {digest!r} is not a digest (sha256:<64 hex digits>)")
    return digest


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n} bytes"
