"""The planes import only downwards: core <- runner <- CLI, and core <- control plane.

Checked on the source (every import statement, lazy ones inside functions too), so a
shortcut across planes shows here before it shows as a broken image or Function App.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLANES = ["modelops_contracts", "modelops", "runner", "cli", "control_plane"]
FORBIDDEN = {
    "modelops_contracts": {"modelops", "runner", "cli", "control_plane"},
    "modelops": {"runner", "cli", "control_plane"},
    "runner": {"cli", "control_plane"},
    "cli": {"control_plane"},
    "control_plane": {"runner", "cli"},
}

# The one allowed crossing: `from modelops import calibrate, load_run` is the notebook
# API; modelops/__init__.py imports runner.api on first use only, and
# test_importing_modelops_loads_no_runner proves `import modelops` stays light.
ALLOWED = {"modelops/__init__.py": {"runner"}}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("plane", PLANES)
def test_a_plane_imports_nothing_above_it(plane):
    crossings = {
        str(path.relative_to(ROOT)): sorted(
            imported_packages(path) & FORBIDDEN[plane] - ALLOWED.get(str(path.relative_to(ROOT)), set())
        )
        for path in sorted((ROOT / plane).rglob("*.py"))
    }
    assert {file: names for file, names in crossings.items() if names} == {}


def test_importing_modelops_loads_no_runner():
    code = "import sys, modelops, modelops.spec; print(sorted(m for m in ('runner', 'dask', 'distributed', 'optuna') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert loaded.strip() == "[]"
