"""Uniform random search: the baseline every optimizer must beat."""

from __future__ import annotations

from typing import Any

import optuna

from search.optimizers._common import SamplerOptimizer, reject_options


class RandomOptimizer(SamplerOptimizer):
    """Optuna's ``RandomSampler``, seeded (log-scale dimensions sampled log-uniformly)."""

    name = "random"

    def __init__(self, *, seed: int) -> None:
        self._seed = seed

    def settings(self) -> dict[str, Any]:
        return {"sampler": "RandomSampler", "seed": self._seed}

    def make_sampler(self) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=self._seed)


def create(*, seed: int, budget: int, options: dict[str, Any]) -> RandomOptimizer:
    reject_options("random", options)
    return RandomOptimizer(seed=seed)
