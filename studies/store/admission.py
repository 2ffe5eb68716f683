"""The budget gate: workers on one host admit a study's trials one at a time.

Several processes (``launch --jobs``, or separate ``launch --resume`` runs) may work on
one study. Each claims a slot before starting a trial: under an exclusive lock it counts
the study's finished and running trials, and admits a new one only below the budget. The
lock is held until the new trial is stored as RUNNING (the objective releases it as its
first act), so no two workers take the last slot. The lock is a ``flock`` on a file in
the temporary directory, named after the storage and study: it serializes processes on
one host; workers on several hosts can overshoot the budget by one trial each.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import tempfile
import warnings
from pathlib import Path
from typing import IO

import optuna
from optuna.trial import TrialState

from studies.running.interrupts import raise_if_interrupted
from studies.store.storage import sqlite_path
from studies.store.trials import FINISHED_STATES

_logger = logging.getLogger(__name__)

LOCK_DIRECTORY = "lstm-tuner-locks"
_TAKEN_STATES = (*FINISHED_STATES, TrialState.RUNNING)


def lock_path(url: str, study_name: str) -> Path:
    """The lock file of ``study_name`` in the storage at ``url`` (one per file, not per spelling)."""
    path = sqlite_path(url)
    where = str(path.resolve()) if path is not None else url
    digest = hashlib.sha256(f"{where}\0{study_name}".encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / LOCK_DIRECTORY / f"{digest}.lock"


class BudgetGate:
    """Admit a trial only while ``study`` holds fewer than ``budget`` finished or running trials."""

    def __init__(self, *, study: optuna.Study, budget: int, url: str) -> None:
        self._study = study
        self._budget = budget
        self._path = lock_path(url, study.study_name)
        self._handle: IO[bytes] | None = None

    def has_room(self) -> bool:
        """Whether a new trial would be admitted now (without claiming it)."""
        if self.claim():
            self.release()
            return True
        return False

    def claim(self) -> bool:
        raise_if_interrupted()  # a safe point between trials
        self._acquire()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self._study)  # silent workers' trials free their slots
        taken = len(self._study.get_trials(deepcopy=False, states=_TAKEN_STATES))
        if taken >= self._budget:
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._handle is None:
            return
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None

    def _acquire(self) -> None:
        self.release()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("ab")
        fcntl.flock(handle, fcntl.LOCK_EX)
        self._handle = handle
