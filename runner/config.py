"""The in-cluster runner's configuration, from environment variables only.

An orchestrator starts the runner as a Kubernetes Job and configures it with:

| variable | meaning |
| --- | --- |
| `MODELOPS_RUN_ID` | run id (required); runners with the same id share the run |
| `MODELOPS_RUN_SPEC` | path of the run document, e.g. a mounted ConfigMap (required) |
| `MODELOPS_RESULTS_URL` | results folder or blob URL (required) |
| `DASK_SCHEDULER_ADDRESS` | Dask scheduler, e.g. `tcp://dask-scheduler.ns:8786`; unset: a local cluster |
| `MODELOPS_STORAGE_URL` | study storage URL (`memory`, `sqlite:///...`, `postgresql://...`) |
| `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE` | PostgreSQL study from a Secret, when `MODELOPS_STORAGE_URL` is unset |
| `MODELOPS_EVENTS_URL` | progress event sinks, comma-separated (JSONL path, webhook, Event Grid topic) |
| `MODELOPS_EVENTGRID_KEY` | Event Grid access key (else the pod's managed identity) |
| `MODELOPS_STORAGE_CONNECTION_STRING` | blob connection string (else the pod's managed identity) |
| `MODELOPS_RUNNER_ID` | this runner's id (default: host name, which is the pod name) |
| `MODELOPS_DETERMINISTIC` | `1` for ask-batch / wait-all / tell-in-order mode |
| `MODELOPS_BUNDLE_STORE` | where the document's bundle (`model.bundle: sha256:...`) is fetched from: a folder or blob URL |
| `MODELOPS_SIM_CACHE` | a folder or blob URL where simulation outputs of a bundled model are kept and reused (off when unset) |
| `MODELOPS_BUNDLE_CACHE` | where fetched bundles are unpacked (default `~/.cache/modelops/bundles`) |
| `MODELOPS_STORAGE_OUTAGE_SECONDS` | how long a study storage outage is ridden out before the run stops (default 120) |
| `MODELOPS_LEASE_TIMEOUT_SECONDS` | a runner without a heartbeat this long loses its leases to live ones (default 30) |
| `MODELOPS_FALLBACK_DIR` | local folder for results the store did not take at the end (default `modelops-fallback`) |

SIGTERM (a pod's eviction) stops the run gracefully: in-flight trials get 10 s,
results and an `interrupted` summary are written, and the exit code is 143.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

REQUIRED = ("MODELOPS_RUN_ID", "MODELOPS_RUN_SPEC", "MODELOPS_RESULTS_URL")


@dataclass(frozen=True)
class RunnerConfig:
    run_id: str
    spec_path: str
    results_url: str
    storage_url: str = field(default="memory", repr=False)  # may hold a password
    scheduler_address: str | None = None
    events: tuple[str, ...] = ()
    runner_id: str = ""
    deterministic: bool = False
    bundle_store: str | None = None
    sim_cache: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RunnerConfig:
        missing = [name for name in REQUIRED if not env.get(name)]
        if missing:
            raise ValueError(f"runner configuration: missing environment variable(s) {', '.join(missing)}")
        return cls(
            run_id=env["MODELOPS_RUN_ID"],
            spec_path=env["MODELOPS_RUN_SPEC"],
            results_url=env["MODELOPS_RESULTS_URL"],
            storage_url=env.get("MODELOPS_STORAGE_URL") or _postgres_from_pg_env(env) or "memory",
            scheduler_address=env.get("DASK_SCHEDULER_ADDRESS") or None,
            events=tuple(url.strip() for url in env.get("MODELOPS_EVENTS_URL", "").split(",") if url.strip()),
            runner_id=env.get("MODELOPS_RUNNER_ID") or socket.gethostname(),
            deterministic=env.get("MODELOPS_DETERMINISTIC", "") in ("1", "true", "yes"),
            bundle_store=env.get("MODELOPS_BUNDLE_STORE") or None,
            sim_cache=env.get("MODELOPS_SIM_CACHE") or None,
        )


def _postgres_from_pg_env(env: Mapping[str, str]) -> str | None:
    """libpq's PG* variables (as a Kubernetes Secret provides them) as a storage URL."""
    if not env.get("PGHOST"):
        return None
    user = quote(env.get("PGUSER", "postgres"), safe="")
    password = env.get("PGPASSWORD")
    auth = f"{user}:{quote(password, safe='')}" if password else user
    return f"postgresql://{auth}@{env['PGHOST']}:{env.get('PGPORT', '5432')}/{env.get('PGDATABASE', 'postgres')}"
