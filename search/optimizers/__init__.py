"""The optimizers, chosen by name from :data:`OPTIMIZERS`."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

from models.errors import ConfigError
from search.optimizers import hho, random_search, tpe
from search.optimizers.base import TRIAL_ERRORS, Optimizer, OptimizerFactory, Proposal, TrialCallback

OPTIMIZERS: Mapping[str, OptimizerFactory] = types.MappingProxyType(
    {
        "tpe": tpe.create,
        "random": random_search.create,
        "hho": hho.create,
    }
)


def create_optimizer(name: str, *, seed: int, budget: int, options: dict[str, Any] | None = None) -> Optimizer:
    """The optimizer registered as ``name``, set up for a study of ``budget`` trials.

    Raises:
        ConfigError: unknown name, or options the optimizer does not take.
    """
    factory = OPTIMIZERS.get(name)
    if factory is None:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return factory(seed=seed, budget=budget, options=dict(options or {}))


__all__ = ["OPTIMIZERS", "TRIAL_ERRORS", "Optimizer", "Proposal", "TrialCallback", "create_optimizer"]
