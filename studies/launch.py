"""Launching and resuming a tuning study: the Python API behind ``run_search.py launch``.

``launch`` creates a study (or with ``resume`` continues it: see :mod:`studies.config`
for how settings are resolved and recorded) and runs it to its budget: in this process,
or with local worker processes while this one leads it, or, with ``jobs=0``, only
leading it while workers on other hosts train (``run_search.py worker``), until its limits
are spent: ``trials`` configurations, ``epoch_budget`` training epochs, ``timeout``
seconds per launch (:mod:`studies.store.budget`). A resumed study runs only what is missing.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from models.errors import check_whole_number
from search.schedulers import Segment, epochs_counted, final_trial, screening_trials
from search.space import SearchSpace
from studies.config import DEFAULT_MAX_FAILURES, DEFAULT_RECYCLE_EVERY, MAX_TRIALS, Given, open_study, read_space
from studies.running.executor import run_study, run_with_workers
from studies.running.pruners import check_pruner
from studies.store.budget import DEADLINE_ATTR, StudyBudget
from studies.store.record import StudyRecord
from studies.store.storage import mask_url, resolve_url
from studies.store.trials import FINISHED_STATES, count_finished

_logger = logging.getLogger(__name__)

MAX_JOBS = 64
DEFAULT_JOBS = 1


@dataclasses.dataclass(frozen=True)
class LaunchResult:
    """How a launch left its study; ``best_*`` describe the final model's trial
    (:func:`search.schedulers.final_trial`): the best of the highest rung reached."""

    study_name: str
    storage: str
    finished: int
    budget: int
    best_value: float | None
    best_params: dict[str, Any] | None
    configurations: int = 0
    epochs: int = 0
    best_trial: int | None = None
    best_epochs: int | None = None


def launch(
    *,
    study_name: str,
    trials: int | None = None,
    optimizer: str | None = None,
    storage: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    data: str | None = None,
    space: SearchSpace | str | Path | None = None,
    seed: int | None = None,
    pop_size: int | None = None,
    pruner: str | None = None,
    resume: bool = False,
    max_failures: int | None = None,
    progress: bool = False,
    jobs: int = DEFAULT_JOBS,
    recycle_every: int = DEFAULT_RECYCLE_EVERY,
    worker_init: Callable[[], None] | None = None,
    rungs: tuple[int, ...] | None = None,
    reduction_factor: int | None = None,
    epoch_budget: int | None = None,
    timeout: float | None = None,
    artifacts: str | Path | None = None,
) -> LaunchResult:
    """Create (or with ``resume``, continue) a study and run it until its limits are spent.

    Options left as None take the stored value on resume, else the default. On resume, an
    option given with a value other than the stored one is refused, naming both, except
    the limits (``trials``, ``epoch_budget``, ``timeout``) and ``max_failures``, which a
    resume may change (the new values are recorded). Changed limits keep the optimizer's
    settings as the study planned them when it was created (TPE keeps its start-up trial
    count, HHO its population size): they stay recorded as ``optimizer_settings``, with the
    configurations they were planned for as ``initial_budget``.

    ``jobs`` local worker processes (each calling ``worker_init`` first, e.g. to set up
    logging) train the trials, and the budget is exact; with ``jobs=0`` this process only
    leads (workers on other hosts train). TensorFlow's ``fit`` leaks memory with every new
    model (about 11 MB per tiny trial, see benchmarks/results/memory.md), so a worker
    process is replaced after ``recycle_every`` trials (0: never); a run of more trials
    than that uses a worker process even with one job.

    Raises:
        ConfigError: bad input (nothing written).
        studies.running.progress.TooManyFailures: ``max_failures`` trials in a row failed.
        studies.running.workers.WorkerFailed: a worker process ended with an error.
    """
    if max_failures is not None:
        check_whole_number("--max-failures", max_failures, low=1, high=MAX_TRIALS)
    check_whole_number("--jobs", jobs, low=0, high=MAX_JOBS)
    check_whole_number("--recycle-every", recycle_every, low=0, high=MAX_TRIALS)
    if trials is not None:
        check_whole_number("--trials", trials, low=1, high=MAX_TRIALS)
    if pruner is not None:
        check_pruner(pruner)
    given = Given(optimizer=optimizer, seed=seed, epochs=epochs, batch_size=batch_size, data=data,
                  space=read_space(space), pop_size=pop_size, pruner=pruner, max_failures=max_failures,
                  rungs=rungs, reduction_factor=reduction_factor, epoch_budget=epoch_budget, timeout=timeout,
                  artifacts=None if artifacts is None else str(artifacts))
    setup = open_study(name=study_name, storage=storage, given=given, trials=trials, resume=resume)
    study, record = setup.study, setup.record
    study.set_user_attr(DEADLINE_ATTR, None if record.timeout is None else time.time() + record.timeout)
    # with rungs, promotions run past the trial cap: whether anything is left is the budget's call
    remaining = record.budget - count_finished(study)
    in_processes = not StudyBudget.of(study, record).done() and (jobs != 1 or 0 < recycle_every < remaining)
    if in_processes:
        run_with_workers(study=study, optimizer=setup.optimizer, objective=setup.objective, budget=record.budget,
                         jobs=jobs, storage=storage, per_process=recycle_every or None, worker_init=worker_init,
                         record=record)
    else:
        run_study(study=study, optimizer=setup.optimizer, objective=setup.objective, budget=record.budget,
                  max_failures=record.max_failures or DEFAULT_MAX_FAILURES, progress=progress, record=record)
    return _result(study, resolve_url(storage), record)


__all__ = ["LaunchResult", "launch", "run_study"]


def _result(study: optuna.Study, url: str, record: StudyRecord) -> LaunchResult:
    trials = study.get_trials(deepcopy=False)
    rungs = StudyBudget.of(study, record).scheduler.rungs
    best = final_trial(trials)
    return LaunchResult(
        study_name=study.study_name,
        storage=mask_url(url),
        finished=count_finished(study),
        budget=record.budget,
        best_value=best.value if best else None,
        best_params=dict(best.params) if best else None,
        configurations=len(screening_trials(t for t in trials if t.state in FINISHED_STATES)),
        epochs=sum(epochs_counted(t, rungs) for t in trials),
        best_trial=best.number if best else None,
        best_epochs=Segment.of(best, rungs).end if best else None,
    )
