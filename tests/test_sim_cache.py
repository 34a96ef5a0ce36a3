"""The simulation cache: keyed by bundle, entrypoint, param_id, seed and outputs; off unless configured; never changes a result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from modelops.bundles import BundleStore, build_bundle, set_default_store
from modelops.services import sim_cache
from modelops.services.executor import simulate
from modelops_contracts import SimTask, UniqueParameterSet
from tests.bundle_models import write_growth_folder

PSET = UniqueParameterSet.from_dict({"rate": 1.5})


def calls(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_simulation_asked_again_under_the_same_bundle_is_reused_and_any_other_key_is_not(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("GROWTH_CALLS", str(log))
    folder = tmp_path / "m"
    write_growth_folder(folder)
    bundle = build_bundle(folder)
    store = BundleStore(str(tmp_path / "store"))
    store.push(bundle)
    set_default_store(store.url)
    sim_cache.configure(bundle.digest, str(tmp_path / "sim-cache"))
    try:
        task = SimTask(bundle.digest, "growth:simulate", PSET, 11)
        [(first, _)] = simulate([task])
        [(again, _)] = simulate([task])
        assert (first.cached, again.cached, calls(log)) == (False, True, 1)
        assert again.outputs["growth"].inline == first.outputs["growth"].inline
        others = [SimTask(bundle.digest, "growth:simulate", PSET, 12),  # another seed
                  SimTask(bundle.digest, "growth:simulate", UniqueParameterSet.from_dict({"rate": 2.0}), 11),
                  SimTask(bundle.digest, "growth:simulate", PSET, 11, outputs=("growth",))]  # other outputs asked
        assert [r.cached for r, _ in simulate(others)] == [False, False, False] and calls(log) == 4
        [(broken, diagnostics)] = simulate([SimTask(bundle.digest, "growth:absent", PSET, 11)])
        assert broken.error is not None
        [(still, _)] = simulate([SimTask(bundle.digest, "growth:absent", PSET, 11)])
        assert not still.cached  # failures are not stored
    finally:
        sim_cache.configure(bundle.digest, None)
        set_default_store(None)
    [(off, _)] = simulate([task])
    assert not off.cached and calls(log) == 5  # off unless configured


def test_installed_models_are_never_cached(tmp_path):
    sim_cache.configure("installed", str(tmp_path / "sim-cache"))
    task = SimTask("installed", "tests.models:quadratic", UniqueParameterSet.from_dict({"x": 1.0, "y": 0.0}), 3)
    assert [r.cached for r, _ in simulate([task, task])] == [False, False]


def test_a_rerun_with_the_cache_simulates_nothing_and_gives_the_same_trials(tmp_path):
    spec = write_growth_folder(tmp_path / "my-model")
    log = tmp_path / "calls.log"
    exe = Path(sys.executable).with_name("mops")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"GROWTH_CALLS": str(log)}

    def run(run_id: str, *extra: str) -> dict:
        result = subprocess.run([str(exe), "run", str(spec), "--local", "--json", "--quiet", "--deterministic",
                                 "--no-report", "--out", str(tmp_path / "runs"), "--run-id", run_id, *extra],
                                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    cache = ["--sim-cache", str(tmp_path / "sim-cache")]
    first = run("first", *cache)
    simulated = calls(log)
    assert simulated >= 12  # 6 trials of 2 replicates
    second = run("second", *cache)
    assert calls(log) == simulated  # every simulation came from the cache
    assert (first["sim_cache"]["misses"], second["sim_cache"]) == (simulated, {"url": cache[1], "hits": simulated,
                                                                               "misses": 0})  # fmt: skip
    plain = run("plain")
    assert calls(log) == 2 * simulated
    frames = [pl.read_parquet(Path(s["results"]) / "trials.parquet").sort("number") for s in (first, second, plain)]
    columns = ["param_id", "loss", "replicate_seeds"]
    assert frames[0].select(columns).equals(frames[1].select(columns))
    assert frames[0].select(columns).equals(frames[2].select(columns))
