"""Bring-your-own-model bundles: a model folder as a content-addressed archive, stored, fetched and imported by digest."""

from .activate import INSTALLED, LocalBundle, prepare, set_default_store, use_bundle
from .archive import Bundle, BundleFile, build_bundle, check_digest
from .cache import fetch
from .select import BundleError
from .store import STORE_ENV, BundleStore

__all__ = [
    "INSTALLED",
    "STORE_ENV",
    "Bundle",
    "BundleError",
    "BundleFile",
    "BundleStore",
    "LocalBundle",
    "build_bundle",
    "check_digest",
    "fetch",
    "prepare",
    "set_default_store",
    "use_bundle",
]
