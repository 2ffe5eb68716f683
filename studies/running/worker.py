"""A worker: trains the trials of one study in this process until its budget is reached.

What ``run_search.py worker`` runs on any host, and what each local worker process of
``launch --jobs`` runs: open the study with its recorded settings, then run the one trial
loop (:mod:`studies.running.loop`). It stops when the study holds its budget, after
``limit`` trials (a worker process is then replaced: TensorFlow leaks memory per model),
or when nothing is left for it: nothing queued or running and, for an optimizer that
proposes from a leader (HHO), no leader alive to queue more for a grace period (the
leader may start after its workers, or be between two proposals).
"""

from __future__ import annotations

import logging
import os
import time

from search.schedulers import Kind
from studies.config import DEFAULT_MAX_FAILURES, Given, StudySetup, open_study
from studies.running.interrupts import deferred, raise_if_interrupted
from studies.running.leader import LEADER_GRACE_S, leader_alive
from studies.running.loop import TrialLoop
from studies.running.progress import FailureGuard, TrialLogger
from studies.store.budget import StudyBudget

_logger = logging.getLogger(__name__)

# Seconds a worker with nothing to take waits before asking again.
IDLE_POLL_S = 0.5


def serve(*, study_name: str, storage: str | None, limit: int | None = None, worker: int = 0,
          parent: int | None = None) -> int:
    """Train trials of ``study_name`` until there is nothing left for this worker; returns how many.

    Raises:
        ConfigError: the study is missing, or its settings or data cannot be used here.
        studies.running.progress.TooManyFailures: its max-failures trials in a row failed.
    """
    setup = open_study(name=study_name, storage=storage, given=Given(), trials=None, resume=True, worker=worker)
    return serve_setup(setup, limit=limit, parent=parent)


def serve_setup(setup: StudySetup, *, limit: int | None = None, parent: int | None = None) -> int:
    """:func:`serve` on a study already open; with ``parent``, stop once the process of that
    pid is no longer this one's parent (a local worker whose launching process died)."""
    study, record = setup.study, setup.record
    budget = StudyBudget.of(study, record)
    finished = budget.counts().finished
    logger = TrialLogger(total=None, done=finished, progress=False)
    loop = TrialLoop(budget=budget, sampler=setup.optimizer.sampler(), may_create=setup.optimizer.proposes_in_workers,
                     objective=setup.objective,
                     callbacks=[logger, FailureGuard(record.max_failures or DEFAULT_MAX_FAILURES)])
    idle_since: float | None = None
    with deferred():
        while limit is None or loop.ran < limit:
            if parent is not None and os.getppid() != parent:
                _logger.info("Study %r: the process that started this worker is gone; this worker stops",
                             study.study_name)
                break
            outcome = loop.run_one()
            if outcome is Kind.DONE:
                break
            if outcome is not Kind.IDLE or _more_may_come(budget, leads=not setup.optimizer.proposes_in_workers):
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > LEADER_GRACE_S:
                _logger.info("Study %r: nothing queued or running, and no leader for %.0f s; this worker stops",
                             study.study_name, LEADER_GRACE_S)
                break
            if outcome is Kind.IDLE:
                _wait()
    return loop.ran


def _more_may_come(budget: StudyBudget, *, leads: bool) -> bool:
    counts = budget.counts()
    return counts.running > 0 or counts.waiting > 0 or (leads and leader_alive(budget.study))


def _wait() -> None:
    deadline = time.monotonic() + IDLE_POLL_S
    while time.monotonic() < deadline:
        raise_if_interrupted()
        time.sleep(IDLE_POLL_S / 5)
