"""Helpers shared by the optimizer modules."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import optuna

from models.errors import ConfigError
from search.objective import Objective
from search.optimizers.base import TRIAL_ERRORS, OpenGate, TrialCallback, TrialGate

_logger = logging.getLogger(__name__)


def reject_options(optimizer: str, options: dict[str, Any]) -> None:
    """Raise unless ``options`` is empty: for optimizers that take no specific option."""
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"{flags} does not apply to --optimizer {optimizer}; drop it or use --optimizer hho")


class SamplerOptimizer:
    """An optimizer that is an Optuna sampler: :meth:`run` is ``study.optimize`` with it."""

    name: str

    def make_sampler(self) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    def run(
        self,
        *,
        study: optuna.Study,
        objective: Objective,
        n_trials: int,
        callbacks: Sequence[TrialCallback] = (),
        gate: TrialGate = OpenGate(),  # noqa: B008 - stateless
    ) -> None:
        study.sampler = self.make_sampler()
        for _ in range(n_trials):
            if not gate.claim():
                _logger.info("%s: the study holds its budget of trials (finished or running); stopping", self.name)
                return
            try:
                study.optimize(objective, n_trials=1, catch=TRIAL_ERRORS, callbacks=list(callbacks))
            finally:
                gate.release()
