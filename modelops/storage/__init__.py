"""Where calibration results are kept: a local folder or an Azure blob prefix."""

from modelops.storage.results import ResultsLocation, open_results
from modelops.storage.results_url import BlobTarget, LocalTarget, parse_results_url

__all__ = ["BlobTarget", "LocalTarget", "ResultsLocation", "open_results", "parse_results_url"]
