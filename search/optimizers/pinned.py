"""A sampler that returns parameters chosen elsewhere (by an optimizer outside Optuna)."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import BaseDistribution


class PinnedSampler(optuna.samplers.BaseSampler):
    """Answers every suggestion with the value pinned by :meth:`pin`.

    Lets an external optimizer run its proposal through ``study.optimize`` and the
    ordinary objective, which suggests through the search space as always.
    """

    def __init__(self) -> None:
        self._params: dict[str, Any] = {}

    def pin(self, params: dict[str, Any]) -> None:
        """Make the next trial's suggestions return ``params``."""
        self._params = dict(params)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        if param_name not in self._params:
            raise KeyError(f"no value pinned for parameter {param_name!r}")
        return self._params[param_name]
