"""`python -m runner`: the calibration runner as a Kubernetes Job runs it.

Configured by environment variables (`runner.config`); prints the run summary
as the last line of stdout and exits 0 (completed), 1 (failed), 2 (bad input),
or 143 when SIGTERM (a pod's eviction) interrupted it: a restart resumes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path

from modelops.bundles.document import open_model
from modelops.provenance import provenance
from modelops.spec import SpecError, load_spec, preflight

from .bundle_plugin import bundle_on_workers
from .calibrate import RunFailed, calibrate, exit_code
from .cluster import local_client
from .config import RunnerConfig
from .ledger import LedgerError


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("runner")
    try:
        config = RunnerConfig.from_env(os.environ)
        document = Path(config.spec_path).resolve()
        opened = open_model(load_spec(document), document.parent, config.bundle_store, build=False)
        spec = opened.spec
        observed = preflight(spec, opened.base_dir)
    except (SpecError, ValueError) as error:  # BundleError is a ValueError
        log.error("%s", error)
        return 2
    log.info("run %s, runner %s, scheduler %s", config.run_id, config.runner_id, config.scheduler_address or "local")
    from distributed import Client

    client_context = (
        Client(config.scheduler_address) if config.scheduler_address else local_client(spec.compute.workers)
    )
    try:
        with client_context as client, contextlib.redirect_stdout(sys.stderr):
            bundle_on_workers(client, opened.bundle, config.bundle_store, config.sim_cache)
            summary = calibrate(
                spec,
                observed,
                client,
                run_id=config.run_id,
                results_url=config.results_url,
                storage_url=config.storage_url,
                runner_id=config.runner_id,
                events=config.events,
                deterministic=config.deterministic,
                provenance=provenance(spec, opened.base_dir),
            )
    except (ValueError, LedgerError) as error:
        log.error("%s", error)
        return 2
    except RunFailed as error:
        log.error("calibration failed: %s", error)
        return 1
    if summary["status"] != "completed":
        log.error("calibration %s: %s; results: %s", summary["status"], summary["error"], summary["results"])
    print(json.dumps(summary, default=str))
    return exit_code(summary)


if __name__ == "__main__":
    sys.exit(main())
