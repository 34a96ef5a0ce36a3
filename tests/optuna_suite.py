"""A pytest plugin that points Optuna's own storage test module at the runner's journal.

`make optuna-storage-tests` fetches the source distribution of the installed
Optuna (its wheel does not ship its tests), takes `tests/storages_tests/
test_storages.py` from it and runs it with this plugin (`-p tests.optuna_suite`):
every test of that module parametrised by storage runs against
`runner.journal_storage.RunJournalStorage` on `runner.journal.SqlJournalBackend`, on
PostgreSQL (the tests' throwaway server)
and on SQLite, instead of Optuna's own storages.
"""

from __future__ import annotations

import contextlib
import tempfile

import optuna.testing.storages as supplied

from runner.journal import SqlJournalBackend
from runner.journal_storage import RunJournalStorage
from tests.services import PostgresService, run_postgres

MODES = ["modelops_postgresql", "modelops_sqlite"]
supplied.STORAGE_MODES[:] = MODES  # before the test module reads it for its parametrisation

_session = contextlib.ExitStack()
_postgres: list[PostgresService] = []
_optuna_enter = supplied.StorageSupplier.__enter__


def _enter(self: supplied.StorageSupplier):
    if self.storage_specifier == "modelops_postgresql":
        if not _postgres:
            _postgres.append(_session.enter_context(run_postgres()))
        url = _postgres[0].create_database()
    elif self.storage_specifier == "modelops_sqlite":
        url = f"sqlite:///{_session.enter_context(tempfile.TemporaryDirectory())}/study.db"
    else:
        return _optuna_enter(self)
    self.storage = RunJournalStorage(SqlJournalBackend(url, "optuna-suite"))  # as runners open it
    return self.storage


supplied.StorageSupplier.__enter__ = _enter


def pytest_unconfigure(config) -> None:
    _session.close()
