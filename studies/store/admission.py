"""The budget gate: workers on any number of hosts admit a study's trials one at a time.

Several processes (``launch --jobs``, or separate ``launch --resume`` runs, on one host or
several) may work on one study. Each claims a slot before starting a trial: under the
study's lock it counts the study's taken trials (finished, running, or waiting in the
queue) and admits a new one only below the budget. The lock is held until the new trial
is stored as RUNNING (the objective releases it as its first act), so no two workers
take the last slot and the study ends with exactly its budget of trials.

The lock is held by the database (:mod:`studies.store.locks`): a PostgreSQL advisory lock,
or a file lock beside the SQLite file. It is the same lock for every spelling of the
storage URL and every host, and a worker that dies holding it loses it.
"""

from __future__ import annotations

import logging
import warnings

import optuna
from optuna.trial import TrialState

from studies.running.interrupts import raise_if_interrupted
from studies.store.locks import StudyLock, study_lock
from studies.store.trials import FINISHED_STATES

_logger = logging.getLogger(__name__)

# The trials that hold a slot of the budget: a queued (WAITING) trial will run.
_TAKEN_STATES = (*FINISHED_STATES, TrialState.RUNNING, TrialState.WAITING)


class BudgetGate:
    """Admit a trial only while ``study`` holds fewer than ``budget`` taken trials.

    The lock is the study's in its own storage's database (``study`` must live in a
    PostgreSQL or SQLite storage). ``url`` is ignored: the lock no longer depends on how
    the storage was named; it is accepted so that callers written before can still pass it.

    Raises:
        ConfigError: the study's storage is not a PostgreSQL or SQLite database.
    """

    def __init__(self, *, study: optuna.Study, budget: int, url: str | None = None) -> None:
        self._study = study
        self._budget = budget
        # Optuna has no public accessor of a study's storage.
        self._lock: StudyLock = study_lock(storage=study._storage,  # noqa: SLF001
                                           study_name=study.study_name)

    def has_room(self) -> bool:
        """Whether a new trial would be admitted now (without claiming it)."""
        if self.claim():
            self.release()
            return True
        return False

    def claim(self) -> bool:
        """Take the lock and keep it if the study has room for one more trial (True); else release it (False).

        The caller creates its trial and then calls :meth:`release`. Stale trials
        (Optuna's heartbeat) are failed first, so silent workers' trials free their slots.
        """
        raise_if_interrupted()  # a safe point between trials
        self._lock.acquire()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(self._study)
            taken = len(self._study.get_trials(deepcopy=False, states=_TAKEN_STATES))
        except BaseException:
            self._lock.release()
            raise
        if taken >= self._budget:
            self._lock.release()
            return False
        return True

    def release(self) -> None:
        """Let the next worker claim (idempotent)."""
        self._lock.release()
