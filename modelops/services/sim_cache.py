"""A simulation cache: a bundle's output for (entrypoint, param_id, seed, outputs), stored once and reused.

A model is a pure function of (params, seed), and a bundle digest pins its code
and data, so a simulation asked again under the same digest — a resumed run's
reclaimed trials, a re-scored candidate, a new loss on the same data — can take
the stored output instead of running. Only bundled models are cached (code
that is merely `installed` may change under the same name), and only
successful simulations. Off unless a location is configured for the bundle
(`configure`, which the runner's worker plugin calls); a failing cache is a
miss, never a failed simulation, so a miss never changes a result.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections.abc import Callable, Sequence

import pyarrow as pa

from modelops.storage import open_results
from modelops_contracts import SimReturn, SimTask, TableArtifact

log = logging.getLogger(__name__)
Replicate = tuple[SimReturn, dict | None]
CACHE_ENV = "MODELOPS_SIM_CACHE"

_configured: dict[str, SimulationCache] = {}
_lock = threading.Lock()


def configure(bundle_ref: str, url: str | None) -> None:
    """Cache `bundle_ref`'s simulations at `url` (a folder or blob URL) in this process; None turns it off."""
    with _lock:
        if url and bundle_ref.startswith("sha256:"):
            _configured[bundle_ref] = SimulationCache(url)
        else:
            _configured.pop(bundle_ref, None)


def cache_for(groups: Sequence[Sequence[SimTask]]) -> SimulationCache | None:
    """The cache of these tasks' bundle (one run's tasks share it), if one is configured."""
    first = next((task for group in groups for task in group), None)
    return None if first is None else _configured.get(first.bundle_ref)


def counts(bundle_ref: str) -> dict[str, int]:
    """Hits and misses of `bundle_ref`'s cache in this process so far (zeros when off)."""
    cache = _configured.get(bundle_ref)
    return {"hits": cache.hits, "misses": cache.misses} if cache else {"hits": 0, "misses": 0}


def cache_key(task: SimTask) -> str:
    """BLAKE2b-256 of the task id (bundle, entrypoint, param_id, seed) and the outputs asked for."""
    outputs = "*" if task.outputs is None else ",".join(task.outputs)
    return hashlib.blake2b(f"simcache:v1|{task.task_id}|{outputs}".encode(), digest_size=32).hexdigest()


class SimulationCache:
    def __init__(self, url: str) -> None:
        self._location = open_results(url)
        self.url = str(self._location)
        self.hits = self.misses = 0

    def through(
        self, groups: Sequence[Sequence[SimTask]], run: Callable[[list[list[SimTask]]], list[list[Replicate]]]
    ) -> list[list[Replicate]]:
        """Each group's replicates: stored ones reused, the rest run by `run` (as groups) and stored."""
        found = [[self.get(task) for task in group] for group in groups]
        hits = sum(hit is not None for group in found for hit in group)
        self.hits += hits
        self.misses += sum(map(len, groups)) - hits
        missing = [[t for t, hit in zip(group, hits) if hit is None] for group, hits in zip(groups, found)]
        asked = [g for g, tasks in enumerate(missing) if tasks]
        ran = iter(run([missing[g] for g in asked]) if asked else [])
        results = []
        for g, hits in enumerate(found):
            fresh = iter(next(ran) if g in asked else [])
            group = []
            for task, hit in zip(groups[g], hits):
                replicate = hit or next(fresh, None)
                if replicate is None:  # the group stopped early (a crash); the rest were not run
                    break
                if hit is None:
                    self.put(task, replicate[0])
                group.append(replicate)
            results.append(group)
        return results

    def get(self, task: SimTask) -> Replicate | None:
        try:
            data = self._location.read_bytes(_name(task))
        except FileNotFoundError:
            return None
        except Exception as exc:  # an unreachable or damaged cache is a miss
            log.warning("simulation cache %s: %s", self.url, exc)
            return None
        try:
            table = pa.ipc.open_stream(io.BytesIO(data)).read_all().to_pydict()
            outputs = {name: TableArtifact.from_bytes(raw) for name, raw in zip(table["output"], table["ipc"])}
            seconds = table["seconds"][0]
        except Exception as exc:
            log.warning("simulation cache %s: unreadable entry for %s: %s", self.url, task.task_id, exc)
            return None
        return SimReturn(task_id=task.task_id, outputs=outputs, metrics={"seconds": seconds}, cached=True), None

    def put(self, task: SimTask, result: SimReturn) -> None:
        if result.error is not None or not result.outputs:
            return
        names = sorted(result.outputs)
        table = pa.table({"output": names, "ipc": [result.outputs[n].inline for n in names],
                          "seconds": [float(result.metrics.get("seconds", 0.0))] * len(names)})  # fmt: skip
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        try:
            self._location.write_bytes(_name(task), sink.getvalue())
        except Exception as exc:  # the cache is an optimisation: the result stands
            log.warning("simulation cache %s: cannot store %s: %s", self.url, task.task_id, exc)


def _name(task: SimTask) -> str:
    key = cache_key(task)
    return f"{key[:2]}/{key}.arrows"
