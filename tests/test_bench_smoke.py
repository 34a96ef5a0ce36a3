"""The in-process benchmark runs in its quick mode and ends with its JSON line."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_worker_overhead_quick_mode_prints_its_costs_last():
    done = subprocess.run(
        [sys.executable, "-m", "bench.worker_overhead", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    stages = {f"{stage}_ms" for stage in ("model", "encode", "protocol", "in_process", "round_trip", "simulate", "decode", "score")}
    assert set(result) == {"overhead_ms", "overhead_cpu_ms", "scoring_ms"} | stages and result["scoring_ms"] > 0
    assert result["overhead_cpu_ms"] > 0  # the child's CPU time was found and counted
