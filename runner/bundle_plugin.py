"""Every Dask worker fetches the run's bundle by digest, verifies and caches it, before any simulation.

A worker plugin, so workers that join later (a cluster scaling up, a worker
restarted after a crash) fetch it too. Registering it waits for the workers
there now: a bundle that cannot be fetched, or a requirement that cannot be
installed, fails the run before it starts, naming the cause.
"""

from __future__ import annotations

import asyncio

from distributed import Client
from distributed.diagnostics.plugin import WorkerPlugin

from modelops.bundles import BundleError, LocalBundle, prepare, set_default_store


class BundlePlugin(WorkerPlugin):
    def __init__(self, digest: str, store_url: str | None) -> None:
        self.digest = digest
        self.store_url = store_url
        self.name = f"modelops-bundle-{digest.removeprefix('sha256:')[:16]}"

    async def setup(self, worker) -> None:
        set_default_store(self.store_url)
        await asyncio.to_thread(prepare, self.digest, self.store_url)


def bundle_on_workers(client: Client, bundle: LocalBundle | None, store_url: str | None) -> None:
    """Have every worker (now and later) ready `bundle`; a worker that cannot is a `BundleError`."""
    if bundle is None:
        return
    try:
        client.register_plugin(BundlePlugin(bundle.digest, store_url))
    except BundleError as error:
        raise BundleError(f"a Dask worker cannot use the bundle: {error}") from None
