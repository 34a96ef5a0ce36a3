"""Every exit code of every `mops` command, in one place, so scripts can branch on them.

The README's "Exit codes" table says the same; `tests/test_cli.py` keeps the two in step.
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_API = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM

EXIT_CODES = {
    EXIT_OK: "done: the run completed, the document is valid, the command did what it says",
    EXIT_FAILED: "the calibration failed or was cancelled; `mops env doctor` found a problem",
    EXIT_INVALID: "bad input: the document, an option, a setting, a results folder in use, or a request the API refused",
    EXIT_API: "the API could not be reached or failed, or results could not be downloaded",
    EXIT_INTERRUPTED: "Ctrl-C (SIGINT): a local run stopped and wrote what finished; a followed remote run goes on",
    EXIT_TERMINATED: "SIGTERM: a local run stopped and wrote what finished",
}
