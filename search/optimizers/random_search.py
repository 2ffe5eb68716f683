"""Uniform random search: the baseline every optimizer must beat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna

from search.objective import Objective
from search.optimizers._common import optimize_with_sampler, reject_options
from search.optimizers.base import TrialCallback


class RandomOptimizer:
    """Optuna's ``RandomSampler``, seeded (log-scale dimensions sampled log-uniformly)."""

    name = "random"

    def __init__(self, *, seed: int) -> None:
        self._seed = seed

    def settings(self) -> dict[str, Any]:
        return {"sampler": "RandomSampler", "seed": self._seed}

    def run(
        self,
        *,
        study: optuna.Study,
        objective: Objective,
        n_trials: int,
        callbacks: Sequence[TrialCallback] = (),
    ) -> None:
        sampler = optuna.samplers.RandomSampler(seed=self._seed)
        optimize_with_sampler(sampler, study=study, objective=objective, n_trials=n_trials, callbacks=callbacks)


def create(*, seed: int, budget: int, options: dict[str, Any]) -> RandomOptimizer:
    reject_options("random", options)
    return RandomOptimizer(seed=seed)
