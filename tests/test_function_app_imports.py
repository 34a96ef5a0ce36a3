"""The Function App imports with its own requirements only: nothing from the runner's stack.

Azure installs requirements.txt, not the runner extra; a stray top-level import of
Dask or Optuna would make every function fail to load there.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNER_ONLY = ("dask", "distributed", "optuna", "sqlalchemy", "psycopg", "azure.storage.blob", "azure.eventgrid")

PROBE = f"""
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {[m.split(".")[0] for m in RUNNER_ONLY if "." not in m]!r} or name in {list(RUNNER_ONLY)!r}:
            raise ImportError("the Function App must not import " + name)
sys.meta_path.insert(0, Refuse())
import function_app
print(len(function_app.app.get_functions()))
"""


def test_function_app_loads_without_the_runner_stack():
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) >= 20  # every function registered


def test_relative_settings_resolve_from_the_function_apps_folder():
    from control_plane.settings import APP_ROOT

    assert APP_ROOT == ROOT and (APP_ROOT / "function_app.py").is_file()
