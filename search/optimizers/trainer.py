"""Trainers: what turns an external optimizer's proposals into finished trials.

HHO proposes parameters itself; a :class:`Trainer` runs each proposal as one pinned
trial of the study. :class:`LocalTrainer` runs them one after another in this process;
``studies.running.trainer_pool.TrainerPool`` runs a batch of them in parallel worker processes
(HHO's population-parallel ``--jobs``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import optuna

from search.objective import Objective
from search.optimizers.base import TRIAL_ERRORS, OpenGate, Optimizer, TrialCallback, TrialGate
from search.optimizers.pinned import PinnedSampler


@dataclasses.dataclass(frozen=True)
class Proposal:
    """One configuration to train: its params, and user attributes to record on its trial first.

    The attributes are set before the objective runs, so it can read them: the
    ``proposal`` ordinal (:data:`search.objective.PROPOSAL_ATTR`) among them is what the
    training is seeded from, whichever worker process trains it.
    """

    params: dict[str, Any]
    attrs: dict[str, Any]


class Trainer(Protocol):
    """Runs proposals as pinned trials of one study.

    Contract: :meth:`train` returns, in the order given, each proposal's finished trial,
    or None for a proposal the budget gate refused (the study holds its budget; the
    caller stops); every finished trial has been passed to ``callbacks`` (which may raise,
    e.g. too many failures in a row: then no further proposal is started, and the error
    is raised once the running ones have finished); proposals may run concurrently.
    """

    def train(
        self, proposals: Sequence[Proposal], *, callbacks: Sequence[TrialCallback] = ()
    ) -> list[optuna.trial.FrozenTrial | None]: ...


@runtime_checkable
class PopulationOptimizer(Protocol):
    """An optimizer that proposes whole populations and has a :class:`Trainer` train them:
    parallel runs give it a trainer of worker processes rather than running copies of it."""

    def with_trainer(self, trainer: Trainer) -> Optimizer:
        """This optimizer, with its proposals trained by ``trainer``."""
        ...


class LocalTrainer:
    """Trains proposals one after another in this process, each through ``study.optimize``."""

    def __init__(
        self,
        *,
        study: optuna.Study,
        objective: Objective,
        gate: TrialGate = OpenGate(),  # noqa: B008 - stateless
    ) -> None:
        self._study = study
        self._objective = objective
        self._gate = gate
        self._sampler = PinnedSampler()

    def train(
        self, proposals: Sequence[Proposal], *, callbacks: Sequence[TrialCallback] = ()
    ) -> list[optuna.trial.FrozenTrial | None]:
        trials: list[optuna.trial.FrozenTrial | None] = []
        for proposal in proposals:
            trial = run_pinned(self._study, self._objective, proposal, sampler=self._sampler, gate=self._gate,
                               callbacks=callbacks)
            trials.append(trial)
            if trial is None:
                trials.extend([None] * (len(proposals) - len(trials)))
                break
        return trials


def run_pinned(
    study: optuna.Study,
    objective: Objective,
    proposal: Proposal,
    *,
    sampler: PinnedSampler,
    gate: TrialGate,
    callbacks: Sequence[TrialCallback] = (),
) -> optuna.trial.FrozenTrial | None:
    """Run ``proposal`` as one trial of ``study`` (claimed from ``gate``); None if the gate refused."""
    if not gate.claim():
        return None
    finished: list[optuna.trial.FrozenTrial] = []
    sampler.pin(proposal.params)
    study.sampler = sampler
    try:
        study.optimize(
            _Attributed(objective, proposal.attrs),
            n_trials=1,
            catch=TRIAL_ERRORS,
            callbacks=[lambda _study, trial: finished.append(trial), *callbacks],
        )
    finally:
        gate.release()
    return finished[0] if finished else None


class _Attributed:
    """The objective, with the proposal's bookkeeping written to the trial first."""

    def __init__(self, objective: Objective, attrs: dict[str, Any]) -> None:
        self._objective = objective
        self._attrs = attrs
        self.space = objective.space
        self.worst_value = objective.worst_value

    def __call__(self, trial: optuna.Trial) -> float:
        for key, value in self._attrs.items():
            trial.set_user_attr(key, value)
        return self._objective(trial)
