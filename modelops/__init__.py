"""ModelOps: calibrate stochastic simulation models at scale.

`calibrate`, `load_run` and `Run` are the runner's (`runner.api`): they need
Dask and Optuna, which the core and the control plane never load. They are
imported on first use (PEP 562 module `__getattr__`), so `import modelops`
stays light and the Function App imports the core without the runner's stack;
this file is the one crossing `tests/test_layers.py` allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Run", "__version__", "calibrate", "load_run"]
_RUNNER_API = ("Run", "calibrate", "load_run")

if TYPE_CHECKING:
    from runner.api import Run, calibrate, load_run


def __getattr__(name: str) -> Any:
    if name in _RUNNER_API:
        from runner import api

        return getattr(api, name)
    raise AttributeError(f"module 'modelops' has no attribute {name!r}")
