"""The planes import only downwards: core <- runner <- CLI, and core <- control plane.

Checked on the source (every import statement, lazy ones inside functions too), so a
shortcut across planes shows here before it shows as a broken image or Function App.
"""

import ast
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
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[plane])
        for path in sorted((ROOT / plane).rglob("*.py"))
    }
    assert {file: names for file, names in crossings.items() if names} == {}
