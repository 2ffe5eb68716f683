"""Optuna's Tree-structured Parzen Estimator."""

from __future__ import annotations

from typing import Any

import optuna

from search.optimizers._common import SamplerOptimizer, reject_options

# Optuna's default spends 10 random start-up trials, tuned for budgets of a hundred or
# more. At the small budgets LSTM tuning affords, a quarter of the budget is spent on
# random start-up instead, at least MIN and at most MAX trials.
STARTUP_FRACTION = 0.25
MIN_STARTUP_TRIALS = 2
MAX_STARTUP_TRIALS = 10


def startup_trials(budget: int) -> int:
    """Random start-up trials TPE uses for a study of ``budget`` trials."""
    return max(MIN_STARTUP_TRIALS, min(MAX_STARTUP_TRIALS, round(budget * STARTUP_FRACTION)))


class TpeOptimizer(SamplerOptimizer):
    """Multivariate TPE with the constant-liar strategy (Optuna 5's defaults), seeded."""

    name = "tpe"

    def __init__(self, *, seed: int, budget: int) -> None:
        self._seed = seed
        self._n_startup = startup_trials(budget)

    def settings(self) -> dict[str, Any]:
        return {
            "sampler": "TPESampler",
            "seed": self._seed,
            "n_startup_trials": self._n_startup,
            "multivariate": True,
            "constant_liar": True,
        }

    def make_sampler(self) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(
            seed=self._seed, n_startup_trials=self._n_startup, multivariate=True, constant_liar=True
        )


def create(*, seed: int, budget: int, options: dict[str, Any]) -> TpeOptimizer:
    reject_options("tpe", options)
    return TpeOptimizer(seed=seed, budget=budget)
