"""How long each trial trains: the rungs of a study and the scheduler that promotes
configurations from one rung to the next (see :mod:`search.schedulers.halving`)."""

from __future__ import annotations

from search.schedulers.halving import (
    DEFAULT_REDUCTION_FACTOR,
    Decision,
    Kind,
    Limits,
    SuccessiveHalving,
    final_trial,
)
from search.schedulers.segments import (
    CHECKPOINT_ATTR,
    EPOCHS_RUN_ATTR,
    RUNG_ATTR,
    Rungs,
    Segment,
    epochs_counted,
    screening_trials,
    seconds_per_epoch,
)

__all__ = [
    "CHECKPOINT_ATTR",
    "DEFAULT_REDUCTION_FACTOR",
    "EPOCHS_RUN_ATTR",
    "RUNG_ATTR",
    "Decision",
    "Kind",
    "Limits",
    "Rungs",
    "Segment",
    "SuccessiveHalving",
    "epochs_counted",
    "final_trial",
    "screening_trials",
    "seconds_per_epoch",
]
