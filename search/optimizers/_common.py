"""Helpers shared by the optimizer modules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna

from models.errors import ConfigError
from search.objective import Objective
from search.optimizers.base import TRIAL_ERRORS, TrialCallback


def reject_options(optimizer: str, options: dict[str, Any]) -> None:
    """Raise unless ``options`` is empty: for optimizers that take no specific option."""
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"{flags} does not apply to --optimizer {optimizer}; drop it or use --optimizer hho")


def optimize_with_sampler(
    sampler: optuna.samplers.BaseSampler,
    *,
    study: optuna.Study,
    objective: Objective,
    n_trials: int,
    callbacks: Sequence[TrialCallback],
) -> None:
    """Run ``n_trials`` trials of ``objective`` in ``study``, proposals coming from ``sampler``."""
    study.sampler = sampler
    study.optimize(objective, n_trials=n_trials, catch=TRIAL_ERRORS, callbacks=list(callbacks))
