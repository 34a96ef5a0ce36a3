"""Bundle stores by URL, like results: a local folder or an Azure Blob container (prefix).

A bundle is stored once under its digest (`sha256/<hex>.tar.gz`); pushing a
digest that is already there uploads nothing. Whatever is read back is
verified against the digest it is stored under, so a tampered or truncated
archive is refused instead of run.
"""

from __future__ import annotations

import gzip
import zlib

from modelops.storage import open_results

from .archive import Bundle, check_digest, digest_of_tar
from .select import BundleError

STORE_ENV = "MODELOPS_BUNDLE_STORE"


class BundleStore:
    def __init__(self, url: str) -> None:
        try:
            self._location = open_results(url)
        except ValueError as exc:
            raise BundleError(f"bundle store {url!r}: {exc}") from None
        self.url = str(self._location)

    def __str__(self) -> str:
        return self.url

    def has(self, digest: str) -> bool:
        return self._location.exists(object_name(digest))

    def push(self, bundle: Bundle) -> bool:
        """Store `bundle`; False when its digest was already there (nothing uploaded)."""
        if self.has(bundle.digest):
            return False
        self._location.write_bytes(object_name(bundle.digest), bundle.archive)
        return True

    def get(self, digest: str) -> bytes:
        """The verified (uncompressed) tar of `digest`; `BundleError` when it is missing or does not match."""
        try:
            archive = self._location.read_bytes(object_name(digest))
        except FileNotFoundError:
            raise BundleError(f"bundle {digest} is not in the bundle store {self.url} (push it first)") from None
        try:
            tar = gzip.decompress(archive)
            actual = digest_of_tar(tar)
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile):
            actual = "unreadable content"
        if actual != digest:
            raise BundleError(
                f"bundle {digest} in {self.url} does not match its digest (its content is {actual}): refused"
            )
        return tar


def object_name(digest: str) -> str:
    return f"sha256/{check_digest(digest).removeprefix('sha256:')}.tar.gz"
