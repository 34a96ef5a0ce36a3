"""Bundle build, push and fetch times, and the simulation cache's hit rate on a resumed run.

    .venv/bin/python -m bench.bundles

Cases: the SIR example's folder, and a model folder with 10 MB of target data.
The baseline, measured in the same run, is copying the folder with
`shutil.copytree` (the least a shipment of the folder costs); each step is
reported in seconds and as a ratio to that copy. Pushes go to a folder store
and, when Azurite is installed, to a blob container on Azurite. The resumed
run: a calibration with a SQLite study and the simulation cache is killed
(SIGKILL) after some trials and started again with the same run id; the hit
rate is the share of the resumed runner's simulations served by the cache.
Last line: JSON of every number.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from modelops.bundles import BundleStore, build_bundle, fetch
from tests.bundle_models import write_growth_folder

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 3


def seconds(step) -> float:
    """The fastest of a few repeats: the step's cost with the least interference from a busy machine."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - started)
    return best


def data_folder(root: Path) -> Path:
    write_growth_folder(root)
    rng = random.Random(1)
    lines = ["day,cases,extra"] + [f"{d},{rng.random():.12f},{rng.random():.12f}" for d in range(330_000)]
    (root / "data" / "big.csv").write_text("\n".join(lines) + "\n")  # about 10 MB
    return root


def measure(name: str, folder: Path, work: Path, blob_url: str | None) -> dict[str, float]:
    copy_s = seconds(lambda: (shutil.rmtree(work / "copy", ignore_errors=True), shutil.copytree(folder, work / "copy")))
    bundle = build_bundle(folder)
    build_s = seconds(lambda: build_bundle(folder))
    stores = {"folder": str(work / f"store-{name}")} | ({"azurite": f"{blob_url}/{name}"} if blob_url else {})
    out = {"bytes": bundle.size, "archive_bytes": len(bundle.archive), "copy_s": copy_s, "build_s": build_s}
    for kind, url in stores.items():
        store = BundleStore(url)
        started = time.perf_counter()
        store.push(bundle)
        out[f"push_{kind}_s"] = time.perf_counter() - started
        out[f"push_again_{kind}_s"] = seconds(lambda: store.push(bundle))  # the digest is there: nothing uploaded
        caches = iter(range(100))
        out[f"fetch_{kind}_s"] = seconds(lambda: fetch(bundle.digest, url, root=work / f"cache-{name}-{kind}-{next(caches)}"))
        out[f"fetch_cached_{kind}_s"] = seconds(lambda: fetch(bundle.digest, url, root=work / f"cache-{name}-{kind}-0"))
    ratios = {f"{k[:-2]}_ratio": v / copy_s for k, v in out.items() if k.endswith("_s") and k != "copy_s"}
    print(f"{name}: {bundle.size / 2**20:.2f} MB in {len(bundle.files)} files, archive {len(bundle.archive) / 2**20:.2f} MB; "
          f"copytree {copy_s * 1000:.1f} ms")  # fmt: skip
    for key, value in out.items():
        if key.endswith("_s") and key != "copy_s":
            print(f"  {key[:-2]:22} {value * 1000:9.1f} ms  ({ratios[key[:-2] + '_ratio']:.2f} x copytree)")
    return {k: round(v, 4) for k, v in (out | ratios).items()}


def resumed_hit_rate(work: Path) -> dict[str, float]:
    """Kill a cached calibration mid-run, resume it: the share of the resumed run's simulations that were hits."""
    spec = write_growth_folder(work / "resumed-model", budget={"trials": 40}, replicates=4, compute={"workers": 2})
    model = spec.parent / "growth.py"
    model.write_text(model.read_text().replace("    return {", "    import time; time.sleep(0.05)\n    return {"))
    events = work / "events.jsonl"
    exe = Path(sys.executable).with_name("mops")
    command = [str(exe), "run", str(spec), "--local", "--json", "--quiet", "--no-report", "--run-id", "resumed",
               "--out", str(work / "runs"), "--storage", f"sqlite:///{work / 'study.db'}",
               "--sim-cache", str(work / "sim-cache"), "--events", str(events)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    first = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while _completed(events) < 12 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(first.pid, signal.SIGKILL)  # a crash: its leased trials are reclaimed on resume
    first.wait()
    done_before = _completed(events)
    # --overwrite: the killed run left trials.parquet but no summary.json, which the results check refuses
    resumed = subprocess.run([*command, "--overwrite"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    if resumed.returncode != 0:
        raise RuntimeError(f"the resumed run failed: {resumed.stderr[-2000:]}")
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    counts = summary["sim_cache"]
    rate = counts["hits"] / max(1, counts["hits"] + counts["misses"])
    print(f"resumed run: killed after {done_before} trials, resumed to {summary['n_trials']}; "
          f"cache hits {counts['hits']}, misses {counts['misses']}: hit rate {rate:.1%}")
    rerun = subprocess.run([*command[:-2], "--run-id", "rerun"], cwd=work, env=env, capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    again = json.loads(rerun.stdout.strip().splitlines()[-1])
    print(f"the same document again (new run id, seed 3): cache hits {again['sim_cache']['hits']}, "
          f"misses {again['sim_cache']['misses']}")
    return {"resumed_killed_after_trials": done_before, "resumed_hits": counts["hits"],
            "resumed_misses": counts["misses"], "resumed_hit_rate": round(rate, 4),
            "rerun_hits": again["sim_cache"]["hits"], "rerun_misses": again["sim_cache"]["misses"]}  # fmt: skip


def _completed(events: Path) -> int:
    if not events.exists():
        return 0
    return sum('"modelops.trial.completed"' in line for line in events.read_text().splitlines())


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="modelops-bench-bundles-"))
    os.environ["MODELOPS_BUNDLE_CACHE"] = str(work / "bundle-cache")
    results: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        blob_url = None
        try:
            from tests.services import run_azurite

            azurite = stack.enter_context(run_azurite(work))
            os.environ["MODELOPS_STORAGE_CONNECTION_STRING"] = azurite.connection_string
            blob_url = f"{azurite.blob_endpoint}/bundles"
        except BaseException as exc:  # skipped: no Azurite here
            print(f"Azurite not available ({type(exc).__name__}); folder store only")
        for name, folder in (("sir", ROOT / "examples" / "sir"), ("data10mb", data_folder(work / "data10mb"))):
            results |= {f"{name}_{k}": v for k, v in measure(name, folder, work, blob_url).items()}
    results |= resumed_hit_rate(work)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
