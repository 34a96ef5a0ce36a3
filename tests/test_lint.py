"""No unused imports, undefined names or dead assignments anywhere in the project's code."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ["function_app.py", "modelops", "modelops_contracts", "runner", "cli", "control_plane",
        "examples", "bench", "tests"]  # fmt: skip


def test_pyflakes_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "pyflakes", *CODE], cwd=ROOT, capture_output=True, text=True)
    findings = [line for line in result.stdout.splitlines() if "not_a_real_dependency" not in line]
    assert findings == [], "\n".join(findings)
