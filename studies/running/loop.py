"""The one trial loop: where every trial of every optimizer runs.

A :class:`TrialLoop` runs trials of one study in this process, one at a time. Before
each, it asks the study's budget (:class:`studies.store.budget.StudyBudget`) what it may
do: continue a configuration to its next rung (queued with its parameters and the
segment it trains, see :mod:`search.schedulers`), take the oldest queued trial (an
optimizer that proposes through ``ask`` queued it with fixed parameters), create one
with its optimizer's sampler (TPE, random), wait, or stop. Then it runs the trial
through ``study.optimize(n_trials=1)``, so Optuna's heartbeat, FAIL and PRUNED handling
and the callbacks are the same for every optimizer; a trial's own failure
(:data:`search.optimizers.TRIAL_ERRORS`) is stored FAIL and the loop goes on. Where this
loop runs (the launching process, a local worker process, another host) changes nothing
in it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from search.objective import Objective
from search.optimizers import TRIAL_ERRORS, TrialCallback
from search.schedulers import Kind
from studies.running.interrupts import raise_if_interrupted
from studies.store.budget import STARTS, StudyBudget
from studies.store.storage import TaggingStorage, rdb_storage
from studies.store.trials import WorkerTagged

_logger = logging.getLogger(__name__)


class TrialLoop:
    """Runs trials of ``budget.study`` in this process, one per :meth:`run_one`."""

    def __init__(
        self,
        *,
        budget: StudyBudget,
        sampler: optuna.samplers.BaseSampler,
        may_create: bool,
        objective: Objective,
        callbacks: Sequence[TrialCallback] = (),
    ) -> None:
        self._budget = budget
        self._may_create = may_create
        self._objective = WorkerTagged(objective, on_start=budget.release)
        self._callbacks = list(callbacks)
        self.ran = 0
        budget.study.sampler = sampler

    def run_one(self) -> Kind:
        """Run one trial if the budget admits one now; return what the budget said."""
        raise_if_interrupted()  # a safe point between trials
        admission = self._budget.admit(may_create=self._may_create)
        if admission not in STARTS:
            return admission
        study = self._budget.study
        storage = rdb_storage(study._storage)  # noqa: SLF001 - the study's own storage
        tagging = storage if isinstance(storage, TaggingStorage) else None
        if tagging is not None:
            tagging.claimed = self._budget.release  # the trial is stored RUNNING: others may be admitted
            tagging.stale_checked_elsewhere = True  # by the budget, before it took the lock
        try:
            promotion = self._budget.promotion
            if admission is Kind.PROMOTE and promotion is not None and promotion.parent is not None \
                    and promotion.segment is not None:
                queued = _queue(study, dict(promotion.parent.params), promotion.segment.attrs())
                if tagging is not None:
                    tagging.only_take = queued  # before any proposal a leader queued earlier
            study.optimize(self._objective, n_trials=1, catch=TRIAL_ERRORS, callbacks=self._callbacks)
        finally:
            if tagging is not None:
                tagging.claimed = None
                tagging.only_take = None
                tagging.stale_checked_elsewhere = False
            self._budget.release()  # in case the trial failed before it was stored RUNNING
        self.ran += 1
        return admission


def _queue(study: optuna.Study, params: dict[str, Any], attrs: dict[str, Any]) -> int:
    """Queue a trial of ``params`` with user attributes ``attrs``, as ``study.enqueue_trial``
    does; returns its trial id."""
    template = optuna.trial.create_trial(state=TrialState.WAITING, system_attrs={"fixed_params": params},
                                         user_attrs=attrs)
    return study._storage.create_new_trial(study._study_id, template_trial=template)  # noqa: SLF001
