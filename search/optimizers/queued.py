"""The sampler of workers that only take queued trials."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import BaseDistribution


class QueuedOnlySampler(optuna.samplers.BaseSampler):
    """Samples nothing: every trial of an optimizer that proposes through ``ask`` is queued
    with fixed parameters, which Optuna hands to the objective without asking a sampler.

    A request for a parameter that is not fixed means a trial was created that no
    proposal queued: a bug, said so.
    """

    def infer_relative_search_space(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        raise RuntimeError(
            f"trial {trial.number} asks for {param_name!r}, but this optimizer's trials are only taken from its "
            "queue, with fixed parameters"
        )
