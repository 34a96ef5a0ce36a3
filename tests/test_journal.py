"""Optuna's journal on PostgreSQL: one gap-free order, however many processes append at once."""

import json
import multiprocessing

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy import select

from modelops.spec import parse_spec
from modelops_contracts import TrialResult
from runner import journal as journal_module
from runner.algorithms import build_algorithm
from runner.journal import SqlJournalBackend, journal
from runner.study import open_storage, optuna_storage
from tests.documents import quadratic_doc
from tests.runner_processes import wait_until

WRITERS = 4
BATCHES = 40


def numbers(backend: SqlJournalBackend) -> list[int]:
    with backend.engine.connect() as conn:
        query = select(journal.c.number).where(journal.c.journal == backend.journal_id).order_by(journal.c.number)
        return list(conn.execute(query).scalars())


def append_batches(url: str, writer: int, start: multiprocessing.Barrier) -> None:
    """One writer process: batches of 1 to 3 entries, each tagged with who wrote it and when."""
    backend = SqlJournalBackend(url, "run-a")
    start.wait()
    for batch in range(BATCHES):
        backend.append_logs([{"writer": writer, "batch": batch, "entry": e} for e in range(batch % 3 + 1)])
    backend.engine.dispose()


def loss_of(pset) -> float:
    return (pset.params["x"] - 3) ** 2


def counted_appends(storage, monkeypatch) -> list[list[str]]:
    """The texts of each append `storage`'s backend sends from now on."""
    backend, appends = storage._backend, []
    append = backend._append
    monkeypatch.setattr(backend, "_append", lambda texts, retry: appends.append(texts) or append(texts, retry))
    return appends


def counted_reads(storage, monkeypatch) -> list[int]:
    """Where each read of the database `storage`'s backend makes from now on starts."""
    backend, reads = storage._backend, []
    select_logs = backend._select
    monkeypatch.setattr(backend, "_select", lambda start: reads.append(start) or select_logs(start))
    return reads


def test_appends_are_numbered_from_zero_without_gaps_and_read_back_in_order(postgres_url):
    backend = SqlJournalBackend(postgres_url, "run-a")
    assert backend.read_logs(0) == []
    backend.append_logs([{"op": 0}, {"op": 1}, {"op": 2, "value": float("nan")}])
    backend.append_logs([{"op": 3}])
    backend.append_logs([{"op": 4}, {"op": 5}])

    logs = backend.read_logs(0)
    assert [log["op"] for log in logs] == [0, 1, 2, 3, 4, 5]
    assert logs[2]["value"] != logs[2]["value"]  # NaN survives, as Optuna may write it
    assert [log["op"] for log in backend.read_logs(4)] == [4, 5]
    assert backend.read_logs(6) == []
    assert numbers(backend) == list(range(6))
    assert [log["op"] for log in SqlJournalBackend(postgres_url, "run-a").read_logs(0)] == list(range(6))


def test_a_journal_with_a_gap_is_refused_rather_than_replayed_out_of_step(postgres_url):
    backend = SqlJournalBackend(postgres_url, "run-a")
    backend.append_logs([{"op": 0}, {"op": 1}, {"op": 2}])
    with backend.engine.begin() as conn:
        conn.execute(journal.delete().where(journal.c.number == 1))
    assert backend.read_logs(2) == [{"op": 2}]
    with pytest.raises(RuntimeError, match="has no entry 1"):
        backend.read_logs(0)


def test_a_journal_whose_connection_the_server_ended_appends_and_reads_on_a_new_one(postgres_url):
    backend = SqlJournalBackend(postgres_url, "run-a")
    backend.append_logs([{"op": 0}])
    with backend.engine.connect() as conn:  # another session ends every other one, the backend's included
        ended = conn.exec_driver_sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                     "WHERE datname = current_database() AND pid <> pg_backend_pid()").scalar_one()  # fmt: skip
    assert ended >= 1
    backend.append_logs([{"op": 1}, {"op": 2}])
    assert [log["op"] for log in backend.read_logs(0)] == [0, 1, 2]
    assert numbers(backend) == [0, 1, 2]


def test_processes_appending_at_once_get_one_contiguous_order(postgres_url):
    SqlJournalBackend(postgres_url, "run-a").engine.dispose()  # the table exists before the race
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    writers = [context.Process(target=append_batches, args=(postgres_url, w, start)) for w in range(WRITERS)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    assert [process.exitcode for process in writers] == [0] * WRITERS

    backend = SqlJournalBackend(postgres_url, "run-a")
    logs = backend.read_logs(0)
    per_writer = sum(batch % 3 + 1 for batch in range(BATCHES))
    assert numbers(backend) == list(range(WRITERS * per_writer))
    entries = [(log["writer"], log["batch"], log["entry"]) for log in logs]
    assert len(set(entries)) == len(entries) == WRITERS * per_writer
    for writer in range(WRITERS):  # each writer's entries in the order it appended them
        own = [entry for entry in entries if entry[0] == writer]
        assert own == sorted(own)
    for index, (writer, batch, entry) in enumerate(entries):  # a batch is never split by another writer's
        if entry > 0:
            assert entries[index - 1] == (writer, batch, entry - 1)
    switches = sum(a[0] != b[0] for a, b in zip(entries, entries[1:]))
    assert switches > WRITERS, "the writers never overlapped, so this proved nothing"


def test_two_journal_storages_on_one_database_see_each_others_trials(postgres_url):
    first = optuna.create_study(study_name="shared", storage=optuna_storage(postgres_url, "shared"))
    second = optuna.load_study(study_name="shared", storage=optuna_storage(postgres_url, "shared"))
    for study, x in [(first, 0.1), (second, 0.2), (first, 0.3), (second, 0.4)]:
        trial = study.ask()  # each ask reads what the other appended (its tells ride with its next ask)
        study.tell(trial, trial.suggest_float("x", 0.0, 1.0) + x)
    running = second.ask()
    first.ask()  # asked in one, seen running in the other at its next ask

    trials = first.get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3, 4, 5]
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4 + ["RUNNING"] * 2
    values = [t.value for t in trials[:4]]
    wait_until(lambda: [t.value for t in second.get_trials()[:4]] == values, timeout=30, what="the first's tells seen")

    first.tell(running.number, 1.0)  # a trial asked by one storage, told through the other
    first._storage.flush()  # (a tell is written with the next ask, or by a flush: the runner's at its end)
    wait_until(lambda: second.get_trials()[4].value == 1.0, timeout=30, what="the other study's trial seen")  # seen without an ask, soon


def test_a_studys_trials_are_what_optunas_replay_holds_whatever_changed_them(postgres_url):
    first = optuna.create_study(study_name="shared", storage=optuna_storage(postgres_url, "indexed"))
    second = optuna.load_study(study_name="shared", storage=optuna_storage(postgres_url, "indexed"))
    every = [None, (), (TrialState.WAITING,), (TrialState.RUNNING,), (TrialState.RUNNING, TrialState.WAITING),
             (TrialState.COMPLETE,), (TrialState.COMPLETE, TrialState.RUNNING), (TrialState.FAIL, TrialState.WAITING)]  # fmt: skip

    def agree(study: optuna.Study) -> bool:
        storage = study._storage
        return all(
            storage.get_all_trials(study._study_id, deepcopy=False, states=states)
            == storage._replay_result.get_all_trials(study._study_id, states)  # Optuna's own walk of the study
            for states in every
        )

    for step in range(12):
        study, other = (first, second) if step % 2 else (second, first)
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("step", step)
        if step % 3 == 0:
            study.enqueue_trial({"x": 0.5})  # waiting, then taken by the next ask
        if step % 4 != 1:  # some stay running
            study.tell(trial, step if step % 5 else None, state=None if step % 5 else TrialState.FAIL)
        study._storage.flush()
        assert agree(study)
    wait_until(lambda: agree(first) and agree(second) and len(first.trials) == len(second.trials), timeout=30,
               what="both studies caught up")  # fmt: skip
    assert {t.state for t in first.trials} >= {TrialState.COMPLETE, TrialState.RUNNING, TrialState.FAIL}


def test_a_study_alone_on_its_journal_reads_it_once_and_writes_once_per_trial(postgres_url, monkeypatch):
    monkeypatch.setattr(journal_module, "FRESH_SECONDS", 3600.0)  # only others' appends cause reads
    storage = optuna_storage(postgres_url, "counted")
    reads, appends = counted_reads(storage, monkeypatch), counted_appends(storage, monkeypatch)
    study = optuna.create_study(study_name="counted", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1) + t.suggest_int("z", 0, 3), 20)
    storage.flush()

    assert len(study.trials) == 20 and {t.state.name for t in study.trials} == {"COMPLETE"}
    assert reads == []  # nobody else appends, so Optuna's dozen reads per trial need none
    assert len(appends) == 1 + 20 + 1  # the study, each ask with the trial before's parameters and tell, the flush
    rejoined = optuna.load_study(study_name="counted", storage=optuna_storage(postgres_url, "counted"))
    assert [(t.params, t.value) for t in rejoined.trials] == [(t.params, t.value) for t in study.trials]


def test_a_study_opened_by_runners_through_open_storage_is_shared(postgres_url):
    opened = [open_storage(postgres_url, "run", runner, budget=12) for runner in ("a", "b")]
    try:
        studies = [
            optuna.create_study(study_name="run", storage=storage, direction="minimize", load_if_exists=True)
            for storage, _ in opened
        ]
        assert all(isinstance(storage, optuna.storages.JournalStorage) for storage, _ in opened)
        for study, (storage, _) in zip(studies, opened):
            study.optimize(lambda trial: (trial.suggest_float("x", -1.0, 1.0) - 0.5) ** 2, n_trials=6)
            storage.flush()  # its last tell, as a runner does at its end

        rejoined = optuna.load_study(study_name="run", storage=optuna_storage(postgres_url, "run"))
        assert len(rejoined.trials) == 12 and {t.state.name for t in rejoined.trials} == {"COMPLETE"}
        assert rejoined.best_value == min(study.best_value for study in studies)
        assert optuna.study.get_all_study_names(optuna_storage(postgres_url, "run")) == ["run"]
    finally:
        for _, ledger in opened:
            ledger.close()


def test_each_run_keeps_its_own_journal(postgres_url):
    first, second = SqlJournalBackend(postgres_url, "run-a"), SqlJournalBackend(postgres_url, "run-b")
    first.append_logs([{"op": "a0"}, {"op": "a1"}])
    second.append_logs([{"op": "b0"}])
    assert [log["op"] for log in first.read_logs(0)] == ["a0", "a1"]
    assert [log["op"] for log in second.read_logs(0)] == ["b0"] and numbers(second) == [0]
    for backend in (first, second):
        backend.engine.dispose()


def test_an_asks_parameters_and_its_tell_are_written_with_the_next_append_and_replayed_once_whatever_came_between(
    postgres_url, monkeypatch
):
    monkeypatch.setattr(journal_module, "FRESH_SECONDS", 3600.0)  # only asks and others' appends cause reads
    space = {"x": optuna.distributions.FloatDistribution(0, 1), "y": optuna.distributions.IntDistribution(0, 9)}
    first = optuna.create_study(study_name="deferred", storage=optuna_storage(postgres_url, "deferred"))
    second = optuna.load_study(study_name="deferred", storage=optuna_storage(postgres_url, "deferred"))
    backend, appends = first._storage._backend, counted_appends(first._storage, monkeypatch)

    mine = first.ask(space)  # its new trial written; its parameters handed to Optuna, not written yet
    written = lambda: [log["op_code"] for log in SqlJournalBackend(postgres_url, "deferred").read_logs(0)]  # noqa: E731
    assert len(appends) == 1 and written() == [0, 4]  # the study, the new trial
    theirs = second.ask(space)  # appended after mine was created, before my parameters
    first.tell(mine, 1.0)  # handed to Optuna, not written yet either
    assert len(appends) == 1 and first.trials[0].value == 1.0
    first._storage.flush()  # one append: my parameters, then the tell
    assert len(appends) == 2 and written() == [0, 4, 4, 5, 5, 6]  # then its parameters and its tell together
    second.tell(theirs, 2.0)
    second._storage.flush()

    monkeypatch.setattr(journal_module, "FRESH_SECONDS", 0.0)  # now each reads what the other wrote
    replayed = optuna.load_study(study_name="deferred", storage=optuna_storage(postgres_url, "deferred"))
    expected = [(0, mine.params, 1.0), (1, theirs.params, 2.0)]
    for study in (first, second, replayed):
        assert [(t.number, t.params, t.value) for t in study.get_trials()] == expected
    assert numbers(backend) == list(range(len(numbers(backend))))


def test_a_journal_with_one_writer_writes_a_batch_of_asks_once_and_refuses_a_second_writer(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = optuna_storage(url, "alone")  # SQLite: one runner, so the journal's only writer
    backend = storage._backend
    appends, reads = counted_appends(storage, monkeypatch), counted_reads(storage, monkeypatch)
    study = optuna.create_study(study_name="alone", storage=storage)
    space = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for _ in range(3):  # batches of 4 asks, told before the next batch
        with storage.asking(4):  # as the runner asks: changes nothing where new trials are deferred anyway
            asked = [study.ask(space) for _ in range(4)]
        storage.flush()
        for trial in asked:
            study.tell(trial, trial.params["x"])
    storage.flush()
    assert len(appends) == 4 and reads == []  # a write per batch (and the last tells); nothing read back
    replayed = optuna.load_study(study_name="alone", storage=optuna_storage(url, "alone"))
    assert [(t.number, t.params, t.value) for t in replayed.trials] == [(t.number, t.params, t.value) for t in study.trials]

    SqlJournalBackend(url, "alone").append_logs([{"op_code": 3, "study_id": 0, "system_attr": {"k": "v"}}])
    before = numbers(backend)
    study.ask(space)
    with pytest.raises(RuntimeError, match="another writer"):
        storage.flush()
    assert numbers(backend) == before  # rolled back: no trial numbered wrong


def test_a_batch_of_asks_on_a_shared_journal_writes_its_new_trials_in_one_append_and_its_parameters_in_one_more(
    postgres_url, monkeypatch
):
    monkeypatch.setattr(journal_module, "FRESH_SECONDS", 3600.0)  # only asks and others' appends cause reads
    spec = parse_spec(quadratic_doc(budget={"trials": 12}))
    mine = build_algorithm(spec, seed=1, study_name="batched", storage=optuna_storage(postgres_url, "batched"))
    theirs = build_algorithm(spec, seed=2, study_name="batched", storage=optuna_storage(postgres_url, "batched"))
    appends = counted_appends(mine.study._storage, monkeypatch)
    sample = mine.study.sampler.sample_independent
    interleaved = []

    def another_runner_asks_meanwhile(study, trial, name, distribution):
        if not interleaved:
            interleaved.extend(theirs.ask(1))  # between my batch's new trials and its parameters
        return sample(study, trial, name, distribution)

    monkeypatch.setattr(mine.study.sampler, "sample_independent", another_runner_asks_meanwhile)
    asked = mine.ask(4)
    assert len(asked) == 4 and len(appends) == 2  # the four new trials together, then their parameters with the flush
    assert [json.loads(text)["op_code"] for text in appends[0]] == [4] * 4
    mine.tell([TrialResult(p.param_id, loss_of(p)) for p in asked])
    theirs.tell([TrialResult(p.param_id, loss_of(p)) for p in interleaved])
    for algorithm in (mine, theirs):
        algorithm.study._storage.flush()

    replayed = optuna.load_study(study_name="batched", storage=optuna_storage(postgres_url, "batched"))
    expected = [(n, p.params, loss_of(p)) for n, p in enumerate(asked + interleaved)]  # mine took 0-3 at once
    assert [(t.number, t.params, t.value) for t in replayed.trials] == expected
    monkeypatch.setattr(journal_module, "FRESH_SECONDS", 0.0)
    for algorithm in (mine, theirs):
        assert [(t.number, t.params, t.value) for t in algorithm.study.get_trials()] == expected


def test_new_trials_a_batch_did_not_take_are_failed_when_it_ends_and_left_running_when_it_is_interrupted(
    postgres_url, monkeypatch
):
    storage = optuna_storage(postgres_url, "leftover")
    study = optuna.create_study(study_name="leftover", storage=storage)
    appends = counted_appends(storage, monkeypatch)
    space = {"x": optuna.distributions.FloatDistribution(0, 1)}
    with storage.asking(5):
        asked = [study.ask(space) for _ in range(3)]  # e.g. the space ran out
    storage.flush()
    assert len(appends) == 2  # five new trials; then the parameters of three and the failure of two
    replayed = optuna.load_study(study_name="leftover", storage=optuna_storage(postgres_url, "leftover"))
    assert [(t.state.name, bool(t.params)) for t in replayed.trials] == [("RUNNING", True)] * 3 + [("FAIL", False)] * 2
    assert [t.params for t in replayed.trials[:3]] == [t.params for t in asked]

    with pytest.raises(KeyboardInterrupt), storage.asking(4):
        study.ask(space)
        raise KeyboardInterrupt
    with storage.asking(2):
        again = [study.ask(space).number for _ in range(2)]
    storage.flush()
    assert again == [9, 10]  # not the three the interrupted batch left
    replayed = optuna.load_study(study_name="leftover", storage=optuna_storage(postgres_url, "leftover"))
    assert [t.state.name for t in replayed.trials[5:]] == ["RUNNING"] * 6  # left, as an interrupted ask leaves its trial, for close_abandoned
