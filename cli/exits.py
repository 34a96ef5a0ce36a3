"""Exit codes shared by every `mops` command, so scripts can branch on them."""

EXIT_FAILED = 1  # the calibration failed or was cancelled
EXIT_INVALID = 2  # bad input: the document, an option, a setting, or a request the API refused as such
EXIT_API = 3  # the API could not be reached, or failed
EXIT_INTERRUPTED = 130  # Ctrl-C while following a run: the run itself goes on
