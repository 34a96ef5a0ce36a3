"""Optuna's journal storage as runners use it: on `runner.journal`'s backend, a study's trials read from an index,
a batch of asks' new trials written at once.

Optuna's `JournalStorage.get_all_trials` walks every trial of the study on every
call (a dict lookup and a state test each), and Optuna and the runner call it
several times per trial (`Study.ask` looks for waiting trials at every ask):
about 0.1 ms a call at 500 trials, growing with the study, where the in-memory
storage keeps its waiting trials apart. `TrialIndex` keeps each study's list of
trials and its unfinished ones, and after each replay re-reads only the trials
the operations named (the replay replaces a trial's object on every change).

On a shared journal each new trial is a round trip: its id is its place in the
journal, which every runner must agree on before its parameters are sampled.
Within `RunJournalStorage.asking(n)` the first ask writes the batch's `n` new
trials in one append and the next asks take them, so a batch costs one round
trip where it cost `n`. A trial taken is one Optuna would have created: running,
no parameters yet, started when it was written (a batch's asks follow each other
within milliseconds). Those a batch does not take (its space ran out) are failed
when it ends; an ask interrupted leaves them running, as it leaves its own new
trial, for `OptunaAlgorithm.close_abandoned` at the run's end.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import pickle
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import JournalStorage
from optuna.storages.journal._base import BaseJournalSnapshot
from optuna.storages.journal._storage import SNAPSHOT_INTERVAL, JournalOperation, JournalStorageReplayResult
from optuna.trial import FrozenTrial, TrialState

from .journal import SqlJournalBackend

# Operations that change one trial, named by its id (a new trial shows as its study's list of ids growing).
_TRIAL_OPERATIONS = frozenset({
    JournalOperation.SET_TRIAL_PARAM, JournalOperation.SET_TRIAL_STATE_VALUES,
    JournalOperation.SET_TRIAL_INTERMEDIATE_VALUE, JournalOperation.SET_TRIAL_USER_ATTR,
    JournalOperation.SET_TRIAL_SYSTEM_ATTR,
})  # fmt: skip
_KEEPS_TRIALS = frozenset({
    JournalOperation.CREATE_TRIAL, JournalOperation.SET_STUDY_USER_ATTR, JournalOperation.SET_STUDY_SYSTEM_ATTR,
})  # fmt: skip
_UNFINISHED = frozenset({TrialState.RUNNING, TrialState.WAITING})


@dataclass
class _Study:
    trials: list[FrozenTrial] = field(default_factory=list)  # by number
    unfinished: dict[int, FrozenTrial] = field(default_factory=dict)  # running or waiting, by number

    def put(self, trial: FrozenTrial) -> None:
        if trial.number == len(self.trials):
            self.trials.append(trial)
        else:
            self.trials[trial.number] = trial
        if trial.state in _UNFINISHED:
            self.unfinished[trial.number] = trial
        else:
            self.unfinished.pop(trial.number, None)


class TrialIndex:
    """The trials of `replay`'s studies as `get_all_trials` returns them; told every operation replayed."""

    def __init__(self, replay: JournalStorageReplayResult):
        self.replay = replay
        self._studies: dict[int, _Study] = {}
        self._changed: set[int] = set()  # ids of trials changed since they were last read

    def replayed(self, logs: Iterable[dict[str, Any]]) -> None:
        for log in logs:
            op = log.get("op_code")
            if op in _TRIAL_OPERATIONS:
                self._changed.add(log["trial_id"])
            elif op not in _KEEPS_TRIALS:  # a study created or deleted, or one this index does not know
                self._studies.clear()
                self._changed.clear()

    def trials(self, study_id: int, states: Container[TrialState] | None) -> list[FrozenTrial]:
        replay = self.replay
        if study_id not in replay._studies:
            return replay.get_all_trials(study_id, states)  # Optuna's error
        self._catch_up()
        study = self._studies.get(study_id)
        if study is None:
            study = self._studies[study_id] = _Study()
        ids = replay._study_id_to_trial_ids[study_id]
        for trial_id in ids[len(study.trials) :]:
            study.put(replay._trials[trial_id])
        if states is None:
            return list(study.trials)
        if all(state in _UNFINISHED for state in states):
            return [study.unfinished[n] for n in sorted(study.unfinished) if study.unfinished[n].state in states]
        return [trial for trial in study.trials if trial.state in states]

    def _catch_up(self) -> None:
        """Re-read the changed trials of the studies held (a new one is read whole)."""
        replay = self.replay
        for trial_id in self._changed:
            study = self._studies.get(replay._trial_id_to_study_id.get(trial_id, -1))
            trial = replay._trials.get(trial_id)
            if study is not None and trial is not None and trial.number < len(study.trials):
                study.put(trial)
        self._changed.clear()


class RunJournalStorage(JournalStorage):
    """Optuna's journal storage on `SqlJournalBackend`, whose `flush` writes what the last asks and tells deferred,
    reading a study's trials from a `TrialIndex` and creating a batch's trials together (`asking`)."""

    def __init__(self, backend: SqlJournalBackend):
        self._index: TrialIndex | None = None
        self._asks = 0  # the trials the current batch will ask for, until its first ask writes them
        self._reserved: tuple[int, collections.deque[int]] | None = None  # (study id, trial ids written, not taken)
        super().__init__(backend)
        self.backend = backend

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        for own in ("_index", "_asks", "_reserved"):  # the index holds the replay, which Optuna's copy replays anew
            del state[own]
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._index, self._asks, self._reserved = None, 0, None

    @contextlib.contextmanager
    def asking(self, n: int) -> Iterator[None]:
        """The next `n` trials created are written together, at the first (where new trials are written at once)."""
        self._asks = n if not self.backend.exclusive else 0  # an exclusive backend defers new trials anyway
        try:
            yield
        finally:
            self._asks, reserved, self._reserved = 0, self._reserved, None
        for trial_id in reserved[1] if reserved is not None else ():  # the batch ended without an error
            with contextlib.suppress(UpdateFinishedTrialError):  # closed by another runner meanwhile
                self.set_trial_state_values(trial_id, TrialState.FAIL)  # deferred: rides with the next write

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is None:
            with self._thread_lock:
                if self._asks > 1:  # the batch's first ask
                    self._reserve(study_id, self._asks)
                self._asks, reserved = 0, self._reserved
                if reserved is not None and reserved[0] == study_id:
                    trial_id = reserved[1].popleft()
                    if not reserved[1]:
                        self._reserved = None
                    return trial_id
        return super().create_new_trial(study_id, template_trial)

    def _reserve(self, study_id: int, n: int) -> None:
        """Write `n` new trials of `study_id` in one append, as `create_new_trial` writes one (under the lock)."""
        started = datetime.now(tz=timezone.utc).isoformat(timespec="microseconds")
        log = {"study_id": study_id, "datetime_start": started}
        worker_id = self._replay_result.worker_id
        self._backend.append_logs([{"op_code": JournalOperation.CREATE_TRIAL, "worker_id": worker_id, **log}] * n)
        self._sync_with_backend()
        last = self._replay_result._last_created_trial_id_by_this_process  # appends are contiguous: the n before it
        ids = range(last - n + 1, last + 1)
        self._reserved = (study_id, collections.deque(ids))
        if isinstance(self._backend, BaseJournalSnapshot) and any(i and i % SNAPSHOT_INTERVAL == 0 for i in ids):
            self._backend.save_snapshot(pickle.dumps(self._replay_result))  # where Optuna's own create would

    def _sync_with_backend(self) -> None:
        logs = self._backend.read_logs(self._replay_result.log_number_read)
        try:
            self._replay_result.apply_logs(logs)  # raises at an entry of this process's that Optuna refuses
        finally:  # ... after applying the ones before it
            if self._index is None or self._index.replay is not self._replay_result:  # a snapshot restored it
                self._index = TrialIndex(self._replay_result)
            else:
                self._index.replayed(logs)

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        with self._thread_lock:
            self._sync_with_backend()
            trials = self._index.trials(study_id, states)
        return copy.deepcopy(trials) if deepcopy else trials

    def flush(self) -> None:
        self.backend.flush()
