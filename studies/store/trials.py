"""Bookkeeping of trials: which worker runs them, and failing those whose worker died.

:func:`fail_dead_trials` is the fast path of one machine: it fails at once the trials of
workers known dead there (:func:`studies.store.identity.is_dead_local_worker`). All others,
on other hosts or in other pid namespaces (containers), are failed by Optuna's heartbeat
once silent for its grace period (:class:`studies.store.storage.TaggingStorage`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from search.objective import Objective
from studies.store.identity import (
    WORKER_ATTR,
    is_dead_local_worker,
    record_worker_death,
    worker_identity,
)
from studies.store.storage import heartbeat_run_seconds

_logger = logging.getLogger(__name__)

FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class WorkerTagged:
    """An objective that first records, on its trial, which process runs it, then calls
    ``on_start`` (the budget gate's release: the trial is stored as RUNNING by now).

    A storage from :func:`studies.store.storage.open_storage` has recorded the worker when it
    created the trial; recording it here covers any other storage (a notebook's study). The
    identity is taken at each call, so an objective built in one process and run in another
    names the process that runs it.
    """

    def __init__(self, objective: Objective, *, on_start: Callable[[], None] | None = None) -> None:
        self._objective = objective
        self.space = objective.space
        self.worst_value = objective.worst_value
        self._on_start = on_start

    def __call__(self, trial: optuna.Trial) -> float:
        identity = worker_identity()
        if trial.user_attrs.get(WORKER_ATTR) != identity:  # a storage that did not tag it (not ours)
            trial.set_user_attr(WORKER_ATTR, identity)
        if self._on_start is not None:
            self._on_start()
        return self._objective(trial)


def count_finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED_STATES))


def fail_dead_trials(study: optuna.Study) -> list[int]:
    """Mark FAIL every RUNNING trial whose worker is known dead: a process of this host,
    boot and pid namespace that no longer exists (:func:`studies.store.identity.is_dead_local_worker`).

    Each carries :func:`studies.store.identity.record_worker_death`, with the seconds up to its
    last heartbeat (:func:`studies.store.storage.heartbeat_run_seconds`) when there is one.
    Trials of live processes, of other hosts or pid namespaces, and with identities that
    lack a field are left alone (Optuna's heartbeat covers those), and so is a trial another
    process finishes first (a second resume, the heartbeat). Returns the numbers of the
    trials failed here.
    """
    storage = study._storage  # noqa: SLF001 - Optuna offers no public way to fail another's trial
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not is_dead_local_worker(trial.user_attrs.get(WORKER_ATTR)):
            continue
        pid = trial.user_attrs[WORKER_ATTR]["pid"]
        trial_id = trial._trial_id  # noqa: SLF001
        try:
            record_worker_death(storage, trial_id, reason=f"worker process {pid} died",
                                ran_seconds=heartbeat_run_seconds(storage, trial))
            if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            _logger.info("Trial %d of dead process %s was finished by another process", trial.number, pid)
            continue
        failed.append(trial.number)
    if failed:
        _logger.warning("Marked %d trial(s) left RUNNING by dead processes as FAIL: %s", len(failed), failed)
    return failed
