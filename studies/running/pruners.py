"""Pruners: stopping unpromising trials early from their per-epoch validation accuracy.

Chosen by name from :data:`PRUNERS`. The objective reports validation accuracy after
every epoch; a pruned trial is stored PRUNED and counts in the budget like any
finished trial. The last epoch is never pruned (nothing would be saved).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping

import optuna

from models.errors import ConfigError

# Median: prune a trial whose accuracy after an epoch is below the median of earlier
# trials at that epoch, once this many trials have finished (Optuna's default is 5).
MEDIAN_STARTUP_TRIALS = 5
# Hyperband: successive halving keeps 1/REDUCTION_FACTOR of the trials at each rung.
HYPERBAND_REDUCTION_FACTOR = 3
# Measured (benchmarks/results/pruning.md): median pruning cut TPE's training time to 0.68x
# with the same best value in both seeds; Hyperband to 0.84x. That was with one rung: with
# several, successive halving already stops poor configurations, and a median pruner inside
# a promoted segment compares it with the few others that got that far, so none is the default.
DEFAULT_PRUNER = "median"
DEFAULT_PRUNER_WITH_RUNGS = "none"

PrunerFactory = Callable[[int], optuna.pruners.BasePruner]


def _median(epochs: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP_TRIALS, n_warmup_steps=0)


def _hyperband(epochs: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=epochs, reduction_factor=HYPERBAND_REDUCTION_FACTOR
    )


def _none(epochs: int) -> optuna.pruners.BasePruner:
    # Optuna's own default would be MedianPruner: no trial is pruned unless asked for.
    return optuna.pruners.NopPruner()


PRUNERS: Mapping[str, PrunerFactory] = types.MappingProxyType(
    {"none": _none, "median": _median, "hyperband": _hyperband}
)


def default_pruner(*, rungs: int) -> str:
    """The pruner a study of ``rungs`` rungs gets when none is given."""
    return DEFAULT_PRUNER if rungs == 1 else DEFAULT_PRUNER_WITH_RUNGS


def check_pruner(name: str) -> str:
    if name not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, but got {name!r}")
    return name


def create_pruner(name: str, *, epochs: int) -> optuna.pruners.BasePruner:
    """The pruner ``name`` for trials of ``epochs`` epochs (one reported value per epoch)."""
    return PRUNERS[check_pruner(name)](epochs)
