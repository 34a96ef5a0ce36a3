"""ModelOps: calibrate stochastic simulation models at scale."""

__version__ = "0.1.0"
