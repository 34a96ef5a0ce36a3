"""The calibration report: figures of the search and the fit, and the best fit's simulated outputs."""

from .build import build_report
from .results_folder import RunFolder, read_folder, save_fit_inputs

__all__ = ["RunFolder", "build_report", "read_folder", "save_fit_inputs"]
