"""Running a study to its budget from the launching process: its trials in this process,
or in local worker processes while this one leads.

Both use the one trial loop (:mod:`studies.running.loop`) and, for an optimizer that
proposes from one place (HHO), the :class:`~studies.running.leader.Leader`; only where
the loop runs differs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import optuna

from search.objective import Objective
from search.optimizers import Optimizer, TrialCallback
from search.schedulers import Kind, SuccessiveHalving
from studies.config import DEFAULT_MAX_FAILURES
from studies.running.interrupts import deferred, raise_if_interrupted
from studies.running.leader import Leader
from studies.running.loop import TrialLoop
from studies.running.progress import FailureGuard, TrialLogger
from studies.running.workers import WorkerPool
from studies.store.budget import StudyBudget, lock_of
from studies.store.locks import StudyLock
from studies.store.record import StudyRecord, trial_cap

_logger = logging.getLogger(__name__)

# Seconds this process waits while others train the study's last trials.
IDLE_POLL_S = 0.2




def run_study(
    *,
    study: optuna.Study,
    optimizer: Optimizer,
    objective: Objective,
    budget: int,
    max_failures: int = DEFAULT_MAX_FAILURES,
    progress: bool = False,
    callbacks: Sequence[TrialCallback] = (),
    limit: int | None = None,
    lock: StudyLock | None = None,
    record: StudyRecord | None = None,
    scheduler: SuccessiveHalving | None = None,
    epoch_budget: int | None = None,
) -> None:
    """Run ``study`` in this process until its limits are spent (or ``limit`` more trials have run).

    The study's limits and rungs are those ``record`` holds; without one, ``budget``
    configurations (and ``epoch_budget`` epochs) promoted by ``scheduler`` (default: one rung).
    ``lock`` (default: the study's database lock, see :func:`studies.store.budget.lock_of`)
    is what other processes working on the study share.

    Raises:
        studies.running.progress.TooManyFailures: ``max_failures`` trials in a row failed.
    """
    keeper = (_keeper(study, budget, record, lock) if record is not None else
              StudyBudget(study=study, budget=budget, lock=lock or lock_of(study), scheduler=scheduler,
                          epochs=epoch_budget))
    done = keeper.counts().finished
    limits = record.limits_text() if record is not None else keeper.limits_text()
    if keeper.done():
        _logger.info("Study %r is finished (%d finished trials; %s): nothing to run", study.study_name, done,
                     limits)
        return
    _logger.info("Study %r: %d trials finished (%s), running %s with %s", study.study_name, done,
                 limits, f"up to {limit}" if limit else "the rest", optimizer.name)
    # with one rung a configuration is one trial; with more, the trials a cap allows are not known
    total = trial_cap(budget) if len(keeper.scheduler.rungs) == 1 else None
    trial_logger = TrialLogger(total=total, done=done, progress=progress)
    loop = TrialLoop(budget=keeper, sampler=optimizer.sampler(), may_create=optimizer.proposes_in_workers,
                     objective=objective, callbacks=[trial_logger, FailureGuard(max_failures), *callbacks])
    leader = None if optimizer.proposes_in_workers else Leader(budget=keeper, optimizer=optimizer,
                                                                space=objective.space)
    try:
        with deferred():  # a signal stops at a safe point: a batch end, a trial's start, a wait
            while limit is None or loop.ran < limit:
                queued = leader.step() if leader is not None else 0
                outcome = loop.run_one()
                if outcome is Kind.DONE or (outcome is Kind.IDLE and not _worth_waiting(keeper, queued)):
                    break
                if outcome is Kind.IDLE:
                    _wait(IDLE_POLL_S)
    finally:
        if leader is not None:
            leader.close()
        trial_logger.close()


def run_with_workers(
    *,
    study: optuna.Study,
    optimizer: Optimizer,
    objective: Objective,
    budget: int,
    jobs: int,
    storage: str | None,
    per_process: int | None,
    worker_init: Callable[[], None] | None,
    record: StudyRecord | None = None,
) -> None:
    """Run ``study`` to ``budget`` with ``jobs`` local worker processes (0: none, this
    process only leads, for workers on other hosts), leading it here if its optimizer
    proposes from one place.

    Raises:
        studies.running.workers.WorkerFailed: a worker process ended with an error.
        KeyboardInterrupt: interrupted; the workers were stopped (their trials stored FAIL).
    """
    keeper = _keeper(study, budget, record, None)
    leader = None if optimizer.proposes_in_workers else Leader(budget=keeper, optimizer=optimizer,
                                                                space=objective.space)
    if leader is None and jobs == 0:
        _logger.info("Study %r is ready: its optimizer (%s) proposes in the workers; start them with "
                     "`run_search.py worker --study %s`", study.study_name, optimizer.name, study.study_name)
        return
    try:
        with deferred(), WorkerPool(jobs=jobs, study_name=study.study_name, storage=storage,
                                    per_process=per_process, worker_init=worker_init) as pool:
            while True:
                raise_if_interrupted()  # a safe point: between looks at the study and the workers
                queued = leader.step() if leader is not None else 0
                counts = keeper.counts()
                if keeper.done():
                    break
                if leader is not None and counts.waiting == 0 and counts.running == 0 and not queued \
                        and leader.exhausted():
                    break
                if jobs:
                    pool.supervise(has_work=True)
                    if not pool.alive and counts.waiting == 0 and counts.running == 0 and leader is None:
                        break
                else:
                    _wait(IDLE_POLL_S)
    finally:
        if leader is not None:
            leader.close()


def _keeper(study: optuna.Study, budget: int, record: StudyRecord | None, lock: StudyLock | None) -> StudyBudget:
    """The study's budget: as ``record`` describes it (rungs, epochs), else ``budget`` trials of one length."""
    if record is not None:
        return StudyBudget.of(study, record, lock=lock)
    return StudyBudget(study=study, budget=budget, lock=lock or lock_of(study))


def _worth_waiting(keeper: StudyBudget, queued: int) -> bool:
    """With nothing admitted here: whether trials may still come (others train the last
    ones, or the leader may yet propose)."""
    counts = keeper.counts()
    return bool(counts.running or counts.waiting or queued)


def _wait(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        raise_if_interrupted()
        time.sleep(min(seconds, 0.05))
