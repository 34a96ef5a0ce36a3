"""Optuna's own storage contract (`optuna.testing.pytest_storages`, shipped with the installed Optuna)
run against the runner's journal on PostgreSQL and SQLite, plus what Optuna's repository adds for
every storage (pickling; see `make optuna-storage-tests` for its whole storage test module)."""

import pickle

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.study import StudyDirection
from optuna.testing.pytest_storages import StorageTestCase

from runner.journal import SqlJournalBackend


@pytest.fixture(params=["postgresql", "sqlite", "sqlite-exclusive"])
def storage(request, tmp_path):
    """`sqlite-exclusive`: the journal's only writer, as a SQLite run's (its new trials deferred too)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else f"sqlite:///{tmp_path}/s.db"
    return JournalStorage(SqlJournalBackend(url, "contract", exclusive=request.param == "sqlite-exclusive"))


class TestJournalStorage(StorageTestCase):
    pass


def test_a_pickled_storage_reads_the_same_study(storage):
    study_id = storage.create_new_study(directions=[StudyDirection.MINIMIZE])
    storage.set_study_system_attr(study_id, "key", "pickle")
    restored = pickle.loads(pickle.dumps(storage))
    assert restored.get_study_system_attrs(study_id) == storage.get_study_system_attrs(study_id) == {"key": "pickle"}
    assert restored._backend.engine is not storage._backend.engine


def test_a_joining_storage_starts_from_the_snapshot_and_replays_only_what_came_after(storage, monkeypatch):
    monkeypatch.setattr("runner.journal.SNAPSHOT_MIN_ENTRIES", 50)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name="s")
    for i in range(205):  # Optuna offers a snapshot at trials 100 and 200
        study.enqueue_trial({"x": i})
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1000)})
        study.tell(trial, float(i))
    saved = storage._backend._snapshot_at
    assert saved > 0
    storage._backend.flush()  # the last tell

    joining = SqlJournalBackend(storage._backend.url, "contract")
    reads = []
    original = joining._select
    monkeypatch.setattr(joining, "_select", lambda start: reads.append(start) or original(start))
    other = optuna.load_study(study_name="s", storage=JournalStorage(joining))
    assert reads and min(reads) == saved  # nothing before the snapshot was read again
    assert [t.value for t in other.trials] == [t.value for t in study.trials] and other.best_value == 0.0
