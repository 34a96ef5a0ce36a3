"""Every Dask worker fetches the run's bundle by digest, verifies and caches it, before any simulation.

A worker plugin, so workers that join later (a cluster scaling up, a worker
restarted after a crash) fetch it too. Registering it waits for the workers
there now: a bundle that cannot be fetched, or a requirement that cannot be
installed, fails the run before it starts, naming the cause. The plugin also
turns on the bundle's simulation cache where one is configured.
"""

from __future__ import annotations

import asyncio
import os

from distributed import Client
from distributed.diagnostics.plugin import WorkerPlugin

from modelops.bundles import BundleError, LocalBundle, prepare, set_default_store
from modelops.services.sim_cache import configure as configure_sim_cache
from modelops.services.sim_cache import counts as sim_cache_counts_here


class BundlePlugin(WorkerPlugin):
    def __init__(self, digest: str, store_url: str | None, sim_cache: str | None = None) -> None:
        self.digest = digest
        self.store_url = store_url
        self.sim_cache = sim_cache
        self.name = f"modelops-bundle-{digest.removeprefix('sha256:')[:16]}"

    async def setup(self, worker) -> None:
        set_default_store(self.store_url)
        await asyncio.to_thread(prepare, self.digest, self.store_url)
        configure_sim_cache(self.digest, self.sim_cache)


def bundle_on_workers(
    client: Client, bundle: LocalBundle | None, store_url: str | None, sim_cache: str | None = None
) -> None:
    """Have every worker (now and later) ready `bundle` (and its simulation cache, if any);
    a worker that cannot is a `BundleError`."""
    if bundle is None:
        return
    try:
        client.register_plugin(BundlePlugin(bundle.digest, store_url, sim_cache))
    except BundleError as error:
        raise BundleError(f"a Dask worker cannot use the bundle: {error}") from None


def sim_cache_counts(client: Client, bundle: LocalBundle | None) -> dict[str, int]:
    """The bundle's simulation cache hits and misses, summed over the worker processes there now
    (thread workers share their process's count)."""
    if bundle is None:
        return {"hits": 0, "misses": 0}
    per_process = {os.getpid(): {"hits": 0, "misses": 0}}
    for pid, found in client.run(_counts_with_pid, bundle.digest).values():
        per_process[pid] = found
    return {key: sum(found[key] for found in per_process.values()) for key in ("hits", "misses")}


def _counts_with_pid(digest: str) -> tuple[int, dict[str, int]]:
    return os.getpid(), sim_cache_counts_here(digest)
