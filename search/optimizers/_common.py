"""Helpers shared by the optimizer modules."""

from __future__ import annotations

from typing import Any

import optuna

from models.errors import ConfigError
from search.optimizers.base import Proposal
from search.optimizers.one_fidelity import OneFidelitySampler
from search.space import SearchSpace


def reject_options(optimizer: str, options: dict[str, Any]) -> None:
    """Raise unless ``options`` is empty: for optimizers that take no specific option."""
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"{flags} does not apply to --optimizer {optimizer}; drop it or use --optimizer hho")


class SamplerOptimizer:
    """An optimizer that is an Optuna sampler, used by every worker for the trials it
    creates (shown the screening rung only): nothing to ask, tell or close."""

    name: str
    proposes_in_workers = True

    def make_sampler(self) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    def sampler(self) -> optuna.samplers.BaseSampler:
        return OneFidelitySampler(self.make_sampler())

    def ask(self, *, study: optuna.Study, space: SearchSpace, n: int) -> list[Proposal]:
        return []

    def tell(self, *, trial: optuna.trial.FrozenTrial) -> None:
        return None

    def exhausted(self) -> bool:
        return False

    def close(self, *, study: optuna.Study) -> None:
        return None
