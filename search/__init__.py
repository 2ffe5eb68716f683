"""The search space, the objective and the optimizers."""

from __future__ import annotations

from search.objective import LstmObjective, Objective, TrainSettings, TrialFailed
from search.optimizers import OPTIMIZERS, Optimizer, create_optimizer
from search.space import DEFAULT_SPACE, Dimension, SearchSpace
from search.space_file import load_space_file

__all__ = [
    "DEFAULT_SPACE",
    "OPTIMIZERS",
    "Dimension",
    "LstmObjective",
    "Objective",
    "Optimizer",
    "SearchSpace",
    "TrainSettings",
    "TrialFailed",
    "create_optimizer",
    "load_space_file",
]
