"""The Python API: `from modelops import calibrate, load_run`, for notebooks and scripts.

`calibrate` runs on Dask workers that are threads of the calling process (each
drives its simulations in warm child processes), so it needs no
`if __name__ == "__main__":` guard and works in a notebook cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from modelops.spec import RunSpec, load_spec, parse_spec, with_overrides

from .local_run import run_local
from .report import build_report, read_folder
from .report.fit import seeds_for, simulate_fit
from .report.results_folder import RunFolder


@dataclass(frozen=True)
class Best:
    params: dict[str, Any]
    loss: float
    param_id: str
    target_losses: dict[str, float]


class Run:
    """A run's results folder: its trials, summary, posterior, best fit and report."""

    def __init__(self, folder: str | Path):
        self._run: RunFolder = read_folder(folder)

    def __repr__(self) -> str:
        s = self.summary
        return f"Run({s.get('run_id')!r}, status={s.get('status')!r}, n_trials={s.get('n_trials')}, best_loss={s.get('best_loss')})"

    @property
    def folder(self) -> Path:
        return self._run.folder

    @property
    def summary(self) -> dict[str, Any]:
        """summary.json: status, counts, best parameters and loss, why it stopped, seeds, hashes."""
        return self._run.summary

    @property
    def trials(self) -> pl.DataFrame:
        """trials.parquet: one row per evaluated parameter set."""
        return self._run.trials

    @property
    def posterior(self) -> pl.DataFrame | None:
        """The posterior's weighted particles (the last generation in posterior.parquet) when there is one, else None."""
        return self._run.posterior

    @property
    def spec(self) -> RunSpec | None:
        """The effective run document, when the folder keeps it (run.json)."""
        return self._run.spec

    @property
    def best(self) -> Best | None:
        s = self.summary
        if s.get("best_params") is None:
            return None
        return Best(dict(s["best_params"]), float(s["best_loss"]), s["best_param_id"], dict(s.get("best_target_losses") or {}))

    def report(self, path: str | Path | None = None) -> Path:
        """Write the HTML report (and its PNG figures) into `path` (default: `<results>/report`)."""
        return build_report(self.folder, path)

    def simulate(self, params: Mapping[str, Any] | None = None, replicates: int | None = None) -> dict[str, pl.DataFrame]:
        """Simulate `params` (default: the best) with the run's seeds; per target the outputs aligned with the data.

        Each frame has the target's keys, `replicate`, `simulated` and `observed`.
        """
        spec, observed = self._run.spec, self._run.observed
        if spec is None or set(observed) != set(spec.targets):
            raise ValueError(f"{self.folder} keeps no run.json and observed data: it cannot be re-simulated")
        if params is None:
            if self.best is None:
                raise ValueError(f"run {self.summary.get('run_id')} has no best parameters")
            params = self.best.params
        return simulate_fit(spec, observed, params, seeds_for(params, replicates or spec.replicates))


def calibrate(
    spec: str | Path | Mapping[str, Any] | RunSpec,
    *,
    trials: int | None = None,
    workers: int | None = None,
    storage: str = "memory",
    results: str | Path | None = None,
    seed: int | None = None,
    run_id: str | None = None,
    progress: bool = True,
    deterministic: bool = False,
    overwrite: bool = False,
) -> Run:
    """Calibrate a run document (a YAML/JSON file, a dict, or a `RunSpec`) on this machine.

    A file's model and data come from the bundle of its folder (as with `mops run`);
    a dict or a RunSpec names a model importable here, its target files relative
    to the working directory. `trials`, `workers` and `seed` override the document.
    Results go to `results` (default `runs/<run id>`); the returned `Run` reads
    them back. A failed run returns too: check `run.summary["status"]`.
    """
    document, base_dir, bundle_folder = _document(spec)
    document = with_overrides(document, **{"budget.trials": trials, "compute.workers": workers, "seed": seed})
    summary = run_local(
        document,
        base_dir,
        results=None if results is None else str(results),
        run_id=run_id,
        storage=storage,
        events=["console"] if progress else [],
        deterministic=deterministic,
        overwrite=overwrite,
        processes=False,
        build=bundle_folder,
    )
    return Run(summary["results"])


def load_run(path: str | Path) -> Run:
    """Open the results folder of a finished (or interrupted) run."""
    return Run(path)


def _document(spec: str | Path | Mapping[str, Any] | RunSpec) -> tuple[RunSpec, Path, bool]:
    """The document, where its relative paths start, and whether that folder is its bundle.

    A file is bundled from its folder, as `mops run` does; a dict or a RunSpec
    built in a notebook names a model importable here (`installed`) unless it
    names a bundle.
    """
    if isinstance(spec, RunSpec):
        return spec, Path.cwd(), False
    if isinstance(spec, Mapping):
        return parse_spec(dict(spec)), Path.cwd(), False
    path = Path(spec)
    return load_spec(path), path.resolve().parent, True
