"""What a study's storage adds per trial, over an in-memory study.

    .venv/bin/python -m bench.storage_overhead [--quick]

The cheap document (1 ms x 2 replicates, TPE, busy mode, 2 workers) run with
each storage, in `ROUNDS` rounds that interleave the storages (each round in
another order), so a load that comes and goes slows all of them alike. Per
storage: the median over rounds of its extra wall time per trial over the same
round's in-memory run (SQLite; PostgreSQL on the tests' throwaway server, null
where it is not installed), and the median of the SQL statements it sends per
trial (ledger, journal and heartbeat together; load-independent, so the
strongest evidence of round trips saved), and the median extra CPU time of the
runner's main thread per trial (it asks, tells and writes there, and it is the
cheap run's bottleneck; CPU time varies less with load than wall time). The
wall figure is relative to the in-memory run, so it rises when that run gets
faster without the storage costing more: between c430687 and f425d71 the
in-memory run went from about 160 to 200 trials/s while every storage's
main-thread CPU per trial stayed the same. Last line: {"sqlite_ms",
"postgresql_ms", "sqlite_cpu_ms", "postgresql_cpu_ms", "sqlite_statements",
"postgresql_statements", "rounds"}.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine

from .common import document, quick_flag, spec_and_data, timed_run, workspace

TRIALS, QUICK_TRIALS = 500, 40
ROUNDS, QUICK_ROUNDS = 3, 1


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
    quick = quick_flag(__doc__)
    trials, rounds = (QUICK_TRIALS, QUICK_ROUNDS) if quick else (TRIALS, ROUNDS)
    with workspace() as (client, folder), postgres() as pg_url:
        spec, observed = spec_and_data(document(1.0, trials), folder)
        kinds = ["memory", "sqlite"] + (["postgresql"] if pg_url else [])
        seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
        sent: dict[str, list[int]] = {kind: [] for kind in kinds}
        cpu: dict[str, list[float]] = {kind: [] for kind in kinds}  # the main thread's CPU seconds
        for round_ in range(rounds):
            urls = {"memory": "memory", "sqlite": f"sqlite:///{folder / f'study-{round_}.db'}", "postgresql": pg_url}
            for kind in kinds[round_ % len(kinds) :] + kinds[: round_ % len(kinds)]:  # each round starts elsewhere
                with statements() as count:
                    started = time.thread_time()
                    seconds[kind].append(timed_run(client, spec, observed, folder, f"{kind}-{round_}", urls[kind]))
                    cpu[kind].append(time.thread_time() - started)
                sent[kind].append(count[0])
        results: dict[str, float | int | None] = {}
        for name, measured in (("ms", seconds), ("cpu_ms", cpu)):
            for kind in ("sqlite", "postgresql"):
                extra = [s - m for s, m in zip(measured.get(kind, []), measured["memory"])]
                results[f"{kind}_{name}"] = round(statistics.median(extra) / trials * 1000, 2) if extra else None
        for kind in ("sqlite", "postgresql"):
            results[f"{kind}_statements"] = round(statistics.median(sent[kind]) / trials, 2) if kind in sent else None
        memory = statistics.median(seconds["memory"])
        extra_text, cpu_text = (_extra_text(results, name) for name in ("ms", "cpu_ms"))
        sent_text = ", ".join(f"{kind} {results[f'{kind}_statements']}" for kind in ("sqlite", "postgresql"))
        rounds_text = ", ".join(f"{kind} {[round(s, 2) for s in runs]}" for kind, runs in seconds.items())
        print(f"{trials} trials x {rounds} rounds; memory {trials / memory:.1f} trials/s; median extra per trial: "
              f"{extra_text}; main-thread CPU {cpu_text}; statements per trial: {sent_text}; seconds per round: {rounds_text}")  # fmt: skip
        results["rounds"] = rounds
    print(json.dumps(results))


def _extra_text(results: dict[str, float | int | None], name: str) -> str:
    return ", ".join(
        f"{kind} {'n/a' if (extra := results[f'{kind}_{name}']) is None else format(extra, '+.2f') + ' ms'}"
        for kind in ("sqlite", "postgresql")
    )


if __name__ == "__main__":
    main()
