"""What a study's storage adds per trial, over an in-memory study.

    .venv/bin/python -m bench.storage_overhead [--quick]

The cheap document (1 ms x 2 replicates, TPE, busy mode, 2 workers) run with
each storage in turn; the extra wall time per trial of SQLite and of PostgreSQL
(the tests' throwaway server; null where PostgreSQL is not installed) over the
in-memory run, and the SQL statements each sends per trial (ledger, journal and
heartbeat together; load-independent, so the strongest evidence of round
trips saved). Last line: {"sqlite_ms", "postgresql_ms", "sqlite_statements",
"postgresql_statements"}.
"""

from __future__ import annotations

import contextlib
import json

from sqlalchemy import event
from sqlalchemy.engine import Engine

from .common import document, quick_flag, spec_and_data, timed_run, workspace

TRIALS, QUICK_TRIALS = 500, 40


@contextlib.contextmanager
def statements():
    """A one-item list counting the SQL statements every engine of this process sends meanwhile."""
    sent = [0]

    def count(*_args) -> None:
        sent[0] += 1

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", count)


@contextlib.contextmanager
def postgres():
    """A throwaway database URL, or None without PostgreSQL here."""
    import pytest

    from tests.services import run_postgres

    try:
        with run_postgres() as pg:
            yield pg.create_database()
    except pytest.skip.Exception:
        yield None


def main() -> None:
    trials = QUICK_TRIALS if quick_flag(__doc__) else TRIALS
    with workspace() as (client, folder), postgres() as pg_url:
        spec, observed = spec_and_data(document(1.0, trials), folder)
        memory = timed_run(client, spec, observed, folder, "memory")
        urls = {"sqlite": f"sqlite:///{folder / 'study.db'}", "postgresql": pg_url}
        extra = {}
        sent = {}
        for kind, url in urls.items():
            with statements() as count:
                seconds = None if url is None else timed_run(client, spec, observed, folder, kind, url)
            extra[f"{kind}_ms"] = None if seconds is None else round((seconds - memory) / trials * 1000, 2)
            sent[f"{kind}_statements"] = None if seconds is None else round(count[0] / trials, 2)
        print(f"{trials} trials; memory {trials / memory:.1f} trials/s; extra per trial: "
              + ", ".join(f"{k[:-3]} {'n/a' if v is None else f'{v:+.2f} ms'}" for k, v in extra.items())
              + "; statements per trial: " + ", ".join(f"{k[:-11]} {v}" for k, v in sent.items()))  # fmt: skip
        extra |= sent
    print(json.dumps(extra))


if __name__ == "__main__":
    main()
