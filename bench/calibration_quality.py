"""Calibration quality: does the runner find the truth, is its reported best honest, is busy mode as good?

    .venv/bin/python -m bench.calibration_quality [--quick] [--seeds N] [--trials N]
                                                  [--modes busy,deterministic,busy-single,optuna]
                                                  [--models seir,ridge]

For each model of `bench.epidemic_models` (target data made at a known truth)
and each seed, the same document is calibrated in this run:
- by the runner (`calibrate`) in each of `--modes` (busy, deterministic, and
  busy-single: busy with TPE fitted once per proposal, as before batches), on a
  local Dask cluster of 2 single-thread workers, an in-memory study;
  mode optuna is no runner but the plain loop with Optuna's own `TPESampler`
  (same options and seed), so the runner's TPE is compared with Optuna's where
  no timing enters: both loops are deterministic for a seed (a plain loop has
  no confirmation phase: it reports its search minimum, so its `honest` and
  `optimism` show the winner's curse);
- by the baseline, a plain sequential Optuna loop (`bench.plain_loop`) with the
  run's sampler (the runner's TPE).
Each best is then re-scored in this process with fresh replicate seeds
(`RESCORE_GROUPS` groups of the document's replicate count, from the
confirmation stream far past what a run uses), giving its expected loss and a
standard error. Per run it prints the worst relative parameter error of the
best, the reported best loss and the re-scored one, and the evaluations
(search + confirmation) per second.

The last line is JSON, per model and mode: `hits` / `plain_hits` (seeds whose
worst relative error is at most 10%), `seeds`, `honest` (seeds whose reported
best loss is within two standard errors of its re-scored value), `optimism`
(median reported / re-scored loss; 1 is honest, below 1 is the winner's
curse), `rescored_ratio` (median runner / baseline re-scored loss; at most ~1
means the runner searches as well as the plain loop) and `throughput`
(median evaluations/s). With busy and another mode, `busy_vs_<mode>` gives the
median busy / other re-scored loss, the seeds where the two agree
within two standard errors (`within_noise`) or busy is not worse
(`busy_not_worse`), and the median throughput ratio (the baseline measured in
the same run). `load` is the 1-minute load average at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Mapping
from contextlib import nullcontext
from unittest import mock
from pathlib import Path

import numpy as np
import polars as pl
from distributed import Client, LocalCluster
from optuna.samplers import TPESampler

from modelops.seeds import CONFIRM, replicate_seeds
from modelops.spec import parse_spec, preflight
from modelops.spec.sampler_options import sampler_options
from modelops_contracts import UniqueParameterSet
from runner.algorithms.tpe import IncrementalTPE
from runner.calibrate import calibrate

from . import epidemic_models as models
from .plain_loop import loss_of, plain_optuna

MODES = ("busy", "deterministic", "busy-single", "optuna")
WORKERS = 2
REPLICATES = 4
RESCORE_GROUPS = 24
RESCORE_START = 1_000_000  # confirmation-stream indexes no run reaches
HIT = 0.10


def case(name: str) -> dict:
    if name == "seir":
        targets = models.expected_targets(models.seir, models.SEIR_TRUTH)
        weekly = {k: targets[k].filter(pl.col("day") % 7 == 0) for k in ("prevalence", "infected")}
        data = {"onsets": targets["onsets"]} | weekly
        return {"entrypoint": "bench.epidemic_models:seir", "truth": models.SEIR_TRUTH,
                "space": models.SEIR_SPACE, "data": data}  # fmt: skip
    if name == "ridge":
        data = models.expected_targets(models.ridge, models.RIDGE_TRUTH)
        return {"entrypoint": "bench.epidemic_models:ridge", "truth": models.RIDGE_TRUTH,
                "space": models.RIDGE_SPACE, "data": data}  # fmt: skip
    raise SystemExit(f"unknown model {name!r}: use seir or ridge")


def document(name: str, model: dict, seed: int, trials: int, folder: Path) -> dict:
    targets = {}
    for target, frame in model["data"].items():
        frame.write_csv(folder / f"{name}-{target}.csv")
        key, value = frame.columns
        targets[target] = {"data": f"{name}-{target}.csv", "keys": [key], "value": value, "loss": "poisson"}
    return {
        "name": name,
        "model": {"entrypoint": model["entrypoint"]},
        "parameters": model["space"],
        "targets": targets,
        "budget": {"trials": trials},
        "replicates": REPLICATES,
        "seed": seed,
    }


def worst_error(params: Mapping[str, float], truth: Mapping[str, float]) -> float:
    return max(abs(params[k] - v) / abs(v) for k, v in truth.items())


def rescore(spec, observed, params: Mapping[str, float]) -> tuple[float, float]:
    """Expected loss of `params` with fresh replicates: mean and standard error over groups."""
    pset = UniqueParameterSet.from_dict(dict(params))
    losses = []
    for group in range(RESCORE_GROUPS):
        seeds = replicate_seeds(pset.param_id, spec.replicates, CONFIRM, RESCORE_START + group * spec.replicates)
        losses.append(loss_of(spec, observed, pset, seeds))
    return float(np.mean(losses)), float(np.std(losses, ddof=1) / np.sqrt(len(losses)))


def measure(client, name, model, seed, trials, folder, modes) -> dict[str, dict]:
    """One seed of one model: a row per runner mode, each beside the same plain loop."""
    spec = parse_spec(document(name, model, seed, trials, folder))
    observed = preflight(spec, folder)
    plain = plain_optuna(spec, observed)
    plain_loss, _ = rescore(spec, observed, plain.best_params)
    rows = {}
    for mode in modes:
        run_id = f"{name}-{seed}-{mode}"
        single = mock.patch.object(IncrementalTPE, "batch", lambda self, n: nullcontext())  # one fit per proposal
        started = time.perf_counter()
        if mode == "optuna":
            summary = optuna_summary(spec, observed)
        else:
            with single if mode == "busy-single" else nullcontext():
                summary = calibrate(spec, observed, client, run_id=run_id, results_url=str(folder / run_id),
                                    deterministic=mode == "deterministic")  # fmt: skip
        elapsed = time.perf_counter() - started
        ours_loss, ours_se = rescore(spec, observed, summary["best_params"])
        row = rows[mode] = {
            "error": worst_error(summary["best_params"], model["truth"]),
            "plain_error": worst_error(plain.best_params, model["truth"]),
            "reported": summary["best_loss"],
            "reported_se": summary.get("best_loss_se") or 0.0,
            "rescored": ours_loss,
            "rescored_se": ours_se,
            "plain_rescored": plain_loss,
            "warnings": summary.get("identifiability", {}).get("warnings", []),
            "throughput": (summary["n_trials"] + summary.get("confirm", {}).get("evaluations", 0)) / elapsed,
        }
        print(f"{name:6} seed {seed} {mode:13}: worst error {row['error']:6.1%} (plain {row['plain_error']:6.1%}), "
              f"best loss reported {row['reported']:9.2f} ± {row['reported_se']:.2f} "
              f"re-scored {ours_loss:9.2f} ± {ours_se:.2f} (plain re-scored {plain_loss:9.2f}), "
              f"{row['throughput']:.1f} evaluations/s", flush=True)  # fmt: skip
    return rows


def optuna_summary(spec, observed) -> dict:
    """The plain loop with Optuna's TPESampler (the document's options and seed), as a run's summary."""
    kwargs = sampler_options(spec.algorithm.sampler, dict(spec.algorithm.options)).sampler_kwargs()
    study = plain_optuna(spec, observed, TPESampler(seed=spec.seed, **kwargs))
    return {"best_params": study.best_params, "best_loss": study.best_value, "n_trials": len(study.trials)}


def within(a: float, a_se: float, b: float, b_se: float) -> bool:
    """|a - b| within two standard errors of the difference."""
    return abs(a - b) <= 2 * float(np.hypot(a_se, b_se))


def aggregate(rows: list[dict]) -> dict:
    return {
        "seeds": len(rows),
        "hits": sum(r["error"] <= HIT for r in rows),
        "plain_hits": sum(r["plain_error"] <= HIT for r in rows),
        "honest": sum(within(r["reported"], r["reported_se"], r["rescored"], r["rescored_se"]) for r in rows),
        "optimism": round(statistics.median(r["reported"] / r["rescored"] for r in rows), 3),
        "rescored_ratio": round(statistics.median(r["rescored"] / r["plain_rescored"] for r in rows), 3),
        "worst_error_median": round(statistics.median(r["error"] for r in rows), 3),
        "warned": sum(bool(r["warnings"]) for r in rows),
        "throughput": round(statistics.median(r["throughput"] for r in rows), 2),
    }


def busy_vs(busy: list[dict], other: list[dict]) -> dict:
    """Does busy mode search as well as the other mode at the same budget, and faster?"""
    pairs = list(zip(busy, other))
    return {
        "rescored_ratio": round(statistics.median(b["rescored"] / d["rescored"] for b, d in pairs), 3),
        "within_noise": sum(within(b["rescored"], b["rescored_se"], d["rescored"], d["rescored_se"]) for b, d in pairs),
        "busy_not_worse": sum(bool(b["rescored"] <= d["rescored"] + 2 * np.hypot(b["rescored_se"], d["rescored_se"]))
                              for b, d in pairs),  # fmt: skip
        "throughput_ratio": round(statistics.median(b["throughput"] / d["throughput"] for b, d in pairs), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, 100 trials (a smoke run)")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--models", default="seir,ridge")
    parser.add_argument("--modes", default="busy,deterministic", help="runner modes, each over the same seeds")
    args = parser.parse_args()
    seeds, trials = (1, 100) if args.quick else (args.seeds, args.trials)
    modes = args.modes.split(",")
    if not set(modes) <= set(MODES):
        raise SystemExit(f"unknown mode in {args.modes!r}: use {', '.join(MODES)}")
    folder = Path(tempfile.mkdtemp(prefix="modelops-bench-"))
    results = {}
    with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            client.run(lambda: __import__("bench.epidemic_models"))  # warm imports off the clock
            for name in args.models.split(","):
                model = case(name)
                runs = [measure(client, name, model, s, trials, folder, modes) for s in range(1, seeds + 1)]
                by_mode = {mode: [run[mode] for run in runs] for mode in modes}
                results[name] = {mode: aggregate(rows) for mode, rows in by_mode.items()}
                for other in [m for m in modes if m != "busy"] if "busy" in modes else []:
                    results[name][f"busy_vs_{other}"] = busy_vs(by_mode["busy"], by_mode[other])
    print(json.dumps(results | {"trials": trials, "load": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
