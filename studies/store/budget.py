"""The budget of a study, kept by the database: which trial may start now.

Every process that runs or queues trials of a study (the one loop of
:mod:`studies.running.loop`, and the leader of :mod:`studies.running.leader`) asks here
first. Under the study's lock (:mod:`studies.store.locks`: held by the database server,
or by a file lock beside a SQLite file, and released if the process dies), it fails the
trials of dead workers, counts the study's trials and decides; a decision to start a
trial keeps the lock until the trial is stored RUNNING (the trial loop's objective
releases it as its first act), so no two processes take the last slot, on any host.

A queued (WAITING) or running trial holds a slot of the budget as a finished one does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import threading
import warnings
from collections.abc import Iterator

import optuna
from optuna.trial import TrialState

from studies.store.locks import StudyLock, study_lock
from studies.store.storage import rdb_storage
from studies.store.trials import FINISHED_STATES, fail_dead_trials


class _ProcessLock:
    """The lock of a study no other process can open (Optuna's in-memory storage)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self) -> None:
        self._lock.acquire()

    def release(self) -> None:
        if self._lock.locked():
            self._lock.release()


def lock_of(study: optuna.Study) -> StudyLock:
    """The lock every process working on ``study`` shares: its database's, or this
    process's own for a study in memory."""
    if rdb_storage(study._storage) is None:  # noqa: SLF001 - which storage the study lives in
        return _ProcessLock()
    return study_lock(storage=study._storage, study_name=study.study_name)  # noqa: SLF001


class Admission(enum.Enum):
    """What the budget allows now."""

    QUEUED = "take the oldest queued trial"  # the lock is held
    NEW = "create a new trial"  # the lock is held
    IDLE = "nothing to take now; others may queue more"
    DONE = "the study holds its budget of finished trials"


@dataclasses.dataclass(frozen=True)
class Counts:
    finished: int
    running: int
    waiting: int

    @property
    def taken(self) -> int:
        return self.finished + self.running + self.waiting


class StudyBudget:
    """The budget of ``study``: at most ``budget`` trials finished, running or queued."""

    def __init__(self, *, study: optuna.Study, budget: int, lock: StudyLock) -> None:
        self.study = study
        self.budget = budget
        self._lock = lock

    def admit(self, *, may_create: bool) -> Admission:
        """Whether this process may start a trial now, and which.

        QUEUED and NEW leave the lock held: call :meth:`release` once the trial is stored
        RUNNING. ``may_create``: whether this process may create a trial of its own (its
        optimizer samples in workers) or only take queued ones.
        """
        self._lock.acquire()
        counts = self._fresh_counts()
        if counts.finished >= self.budget:
            decision = Admission.DONE
        elif counts.waiting:
            decision = Admission.QUEUED
        elif may_create and counts.taken < self.budget:
            decision = Admission.NEW
        else:
            decision = Admission.IDLE
        if decision not in (Admission.QUEUED, Admission.NEW):
            self._lock.release()
        return decision

    def release(self) -> None:
        self._lock.release()

    @contextlib.contextmanager
    def held(self) -> Iterator[int]:
        """Hold the lock for a block that queues trials; yields the room left in the budget."""
        self._lock.acquire()
        try:
            yield max(0, self.budget - self._fresh_counts().taken)
        finally:
            self._lock.release()

    def counts(self) -> Counts:
        """The study's trials by state, now (without the lock)."""
        trials = self.study.get_trials(deepcopy=False)
        states = [t.state for t in trials]
        return Counts(
            finished=sum(s in FINISHED_STATES for s in states),
            running=states.count(TrialState.RUNNING),
            waiting=states.count(TrialState.WAITING),
        )

    def _fresh_counts(self) -> Counts:
        fail_dead_trials(self.study)  # dead workers' trials free their slots
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
        return self.counts()
