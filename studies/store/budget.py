"""The budget of a study, kept by the database: which trial may start now.

Every process that runs or queues trials of a study (the one loop of
:mod:`studies.running.loop`, and the leader of :mod:`studies.running.leader`) asks here
first. It fails the trials of dead workers (at most every :data:`DEAD_CHECK_S` seconds), then,
under the study's lock (:mod:`studies.store.locks`: held by the database server, or by a
file lock beside a SQLite file, and released if the process dies), reads the study's
trials and decides; a decision to start a
trial keeps the lock until the trial is stored RUNNING (the trial loop's objective
releases it as its first act), so no two processes take the last slot, on any host.

What may start is the study's scheduler's call (:mod:`search.schedulers`: promote a
configuration to its next rung, take a queued trial, screen a new configuration, wait,
or stop), within the study's limits: configurations (``budget``), training epochs
(``epochs``; a queued or running trial counts what it may train, a finished one what it
trained) and a deadline. A queued (WAITING) or running trial holds its share of the
budget as a finished one does. Without a scheduler, every trial is one configuration
trained to one length: the budget counts trials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time
import warnings
from collections.abc import Iterator

import optuna
from optuna.trial import TrialState

from search.schedulers import DEFAULT_REDUCTION_FACTOR, Decision, Kind, Limits, Rungs, SuccessiveHalving
from studies.store.locks import StudyLock, study_lock
from studies.store.record import StudyRecord, limits_text
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


@dataclasses.dataclass(frozen=True)
class Counts:
    finished: int
    running: int
    waiting: int

    @property
    def taken(self) -> int:
        return self.finished + self.running + self.waiting


# The scheduler's answers that start a trial: the budget's lock stays held until it is stored RUNNING.
STARTS = (Kind.PROMOTE, Kind.QUEUED, Kind.NEW)
# The study attribute holding the time (seconds since the epoch) after which no trial starts.
DEADLINE_ATTR = "deadline"
# Seconds between this process's looks for trials of dead workers (each look reads every
# RUNNING trial and its heartbeat under the lock; a dead worker's trial only holds its slot
# a little longer in between).
DEAD_CHECK_S = 5.0


class StudyBudget:
    """The budget of ``study``: at most ``budget`` configurations and ``epochs`` training
    epochs (None: no limit), promoted by ``scheduler`` (None: one rung, no promotion)."""

    def __init__(self, *, study: optuna.Study, budget: int, lock: StudyLock,
                 scheduler: SuccessiveHalving | None = None, epochs: int | None = None) -> None:
        self.study = study
        self.budget = budget
        self.scheduler = scheduler or SuccessiveHalving(rungs=Rungs((1,)))
        self.limits = Limits(trials=budget, epochs=epochs)
        self.promotion: Decision | None = None
        self._lock = lock
        self._checked_dead = -math.inf

    @classmethod
    def of(cls, study: optuna.Study, record: StudyRecord, *, lock: StudyLock | None = None) -> StudyBudget:
        """The budget ``study`` records, kept under ``lock`` (default: the study's, :func:`lock_of`)."""
        factor = record.reduction_factor or DEFAULT_REDUCTION_FACTOR
        scheduler = SuccessiveHalving(rungs=record.rungs, reduction_factor=factor)
        return cls(study=study, budget=record.budget, lock=lock or lock_of(study), scheduler=scheduler,
                   epochs=record.epoch_budget)

    def limits_text(self) -> str:
        """The limits this budget keeps, in words (without the time per launch, which only a record holds)."""
        return limits_text(trials=self.budget, epochs=self.limits.epochs, seconds=None)

    def admit(self, *, may_create: bool) -> Kind:
        """Whether this process may start a trial now, and which (the scheduler's :class:`Kind`;
        PROMOTE means: queue :attr:`promotion`, then take it).

        PROMOTE, QUEUED and NEW (:data:`STARTS`) leave the lock held: call :meth:`release` once the trial is
        stored RUNNING. ``may_create``: whether this process may create a trial of its own
        (its optimizer samples in workers) or only take queued ones.
        """
        self._fail_dead()  # outside the lock: failing a dead worker's trial is safe in any order
        deadline = self._deadline()  # outside too: only a resume changes it, and that races with any read
        self._lock.acquire()
        decision = self._decide(may_create=may_create, deadline=deadline)
        self.promotion = decision if decision.kind is Kind.PROMOTE else None
        if decision.kind not in STARTS:
            self._lock.release()
        return decision.kind

    def done(self) -> bool:
        """Whether the study is finished (read without the lock)."""
        return self._decide(may_create=True, deadline=self._deadline()).kind is Kind.DONE

    def _decide(self, *, may_create: bool, deadline: float | None) -> Decision:
        trials = self.study.get_trials(deepcopy=False)
        limits = self._limits_now(deadline)
        if limits is None:  # nothing starts; queued trials wait for a resume with more time
            running = any(t.state == TrialState.RUNNING for t in trials)
            return Decision(Kind.IDLE if running else Kind.DONE)
        return self.scheduler.decide(trials, limits=limits, may_create=may_create)

    def _limits_now(self, deadline: float | None) -> Limits | None:
        """The limits with the seconds left until ``deadline``; None once it has passed."""
        seconds = None if deadline is None else deadline - time.time()
        if seconds is not None and seconds <= 0:
            return None
        return dataclasses.replace(self.limits, seconds=seconds)

    def _deadline(self) -> float | None:
        deadline = self.study.user_attrs.get(DEADLINE_ATTR)
        return float(deadline) if isinstance(deadline, (int, float)) else None

    def release(self) -> None:
        self._lock.release()

    @contextlib.contextmanager
    def held(self) -> Iterator[int]:
        """Hold the lock for a block that queues trials; yields the room left in the budget."""
        self._fail_dead()
        deadline = self._deadline()
        self._lock.acquire()
        try:
            limits = self._limits_now(deadline)
            yield 0 if limits is None else self.scheduler.room(self.study.get_trials(deepcopy=False), limits=limits)
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

    def _fail_dead(self) -> None:
        if time.monotonic() - self._checked_dead < DEAD_CHECK_S:
            return
        self._checked_dead = time.monotonic()
        fail_dead_trials(self.study)  # dead workers' trials free their slots
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
