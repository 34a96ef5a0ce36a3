"""`mops report`: a results folder becomes `report/report.html` (figures embedded) and `report/*.png`."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl

from modelops.bundles import STORE_ENV
from modelops.bundles.document import open_model
from modelops.storage.local_results import LocalResults

from . import figures
from .fit import POSTERIOR_DRAWS, draws_fit, posterior_column, posterior_draws, simulate_fit
from .html import failures_table, image, metadata_rows, page, png_bytes, table
from .results_folder import RunFolder, read_folder, save_fits

log = logging.getLogger(__name__)


def complete_fits(run: RunFolder) -> str | None:
    """Simulate the best fit (and posterior draws) if the folder lacks them; None, or why it cannot."""
    if run.spec is None or set(run.observed) != set(run.spec.targets):
        return "the folder has no run.json and observed data to re-simulate from"
    location = LocalResults(run.folder)
    try:
        open_model(run.spec, run.folder, os.environ.get(STORE_ENV), build=False)  # its bundle, if it has one
        if not run.fits:
            best = run.trials.filter(pl.col("param_id") == run.summary.get("best_param_id"))
            if best.is_empty():
                return "the run has no best parameter set"
            params, seeds = run.summary["best_params"], best["replicate_seeds"][0].to_list()
            run.fits = simulate_fit(run.spec, run.observed, params, seeds)
            save_fits(location, "best_fit_", run.fits)
        if run.posterior is not None and not run.draws:
            draws = posterior_draws(run.posterior, run.parameters, POSTERIOR_DRAWS, seed=0)
            run.draws = draws_fit(run.spec, run.observed, draws)
            save_fits(location, "posterior_fit_", run.draws)
    except Exception as exc:  # the model may not import or run here; the rest of the report still helps
        log.debug("re-simulating the best fit failed", exc_info=True)
        return f"re-simulating failed: {type(exc).__name__}: {exc}"
    return None


def build_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of the run in `folder`; return the HTML file's path."""
    run = read_folder(folder)
    out = Path(out) if out is not None else run.folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    problem = complete_fits(run)
    sections: list[tuple[str, str]] = [("Run", table(metadata_rows(run.summary)) + _best_table(run))]
    pictures: list[tuple[str, str, figures.Figure]] = []
    parameters = run.parameters
    if not run.trials.filter(pl.col("status") == "completed").is_empty():
        pictures += [
            ("Loss over trials", "loss", figures.loss_over_trials(run.trials)),
            ("Parameter traces", "traces", figures.parameter_traces(run.trials, parameters)),
            ("Pairwise", "pairwise", figures.pairwise(run.trials, parameters)),
            ("Profiles", "profiles", figures.profiles(run.trials, parameters)),
        ]
    targets = run.spec.targets if run.spec is not None else {}
    for name, fit in run.fits.items():
        pictures.append((f"Target {name}", f"fit_{name}", figures.target_fit(name, fit, targets[name].keys, run.draws.get(name))))
    html_sections = {}
    for heading, stem, figure in pictures:
        png = png_bytes(figure)
        plt.close(figure)
        (out / f"{stem}.png").write_bytes(png)
        html_sections[heading] = image(png, heading)
    sections += [(heading, content) for heading, content in html_sections.items()]
    if problem:
        sections.append(("Best fit", f'<p class="note">No fit drawn: {problem}.</p>'))
    if run.posterior is not None:
        sections.append(("Posterior", _posterior_section(run, out)))
    sections.append(("Failures", failures_table(run.trials)))
    path = out / "report.html"
    path.write_text(page(f"Calibration {run.summary.get('name') or ''} — {run.summary.get('run_id')}", sections))
    return path


def _best_table(run: RunFolder) -> str:
    best = run.summary.get("best_params") or {}
    losses = run.summary.get("best_target_losses") or {}
    rows = [(f"parameter {k}", v) for k, v in best.items()] + [(f"loss {k}", v) for k, v in losses.items()]
    return table(rows, ["best", "value"]) if rows else ""


def _posterior_section(run: RunFolder, out: Path) -> str:
    columns = {p: posterior_column(run.posterior, p) for p in run.parameters}
    figure, intervals = figures.posterior_marginals(run.posterior, run.parameters, columns)
    png = png_bytes(figure)
    plt.close(figure)
    (out / "posterior.png").write_bytes(png)
    rows = [(p, i["median"], i["low"], i["high"]) for p, i in intervals.items()]
    return image(png, "Posterior marginals") + table(rows, ["parameter", "median", "5%", "95%"])
