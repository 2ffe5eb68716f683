"""Rungs and segments: a configuration trains in segments, one trial each.

A study's rungs are the training lengths, in epochs, at which its configurations are
compared (for example 1, 3, 9 and 27). A configuration's first trial (rung 0) trains it
from scratch to the first rung; a promoted configuration continues in a new trial of its
own, from the checkpoint its previous segment saved (weights, optimizer state and so the
learning-rate schedule's step), to the next rung. Each trial records its segment as user
attributes, so any process on any host can tell what a trial is, what it costs and what
it continues. A trial without them (created by a sampler, or by a study made before
rungs existed) is a rung-0 segment.

Optimizers learn from one fidelity only: :func:`screening_trials` are what they see.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

import optuna
from optuna.trial import TrialState

from models.errors import ConfigError

RUNG_ATTR = "rung"
START_ATTR = "start_epoch"
END_ATTR = "end_epoch"
# The trial number of the segment a promoted trial continues, and of its configuration's rung-0 trial.
PARENT_ATTR = "continues"
ROOT_ATTR = "screened_in"
# The artifact id of the checkpoint a segment starts from, and of the one it saved at its end.
RESUME_ATTR = "resume_from"
CHECKPOINT_ATTR = "checkpoint"
# Epochs a trial trained, and the seconds its training took (set by the objective when it ends).
EPOCHS_RUN_ATTR = "epochs_run"
TRAIN_SECONDS_ATTR = "train_seconds"
MAX_RUNGS = 16


@dataclasses.dataclass(frozen=True)
class Rungs:
    """Training lengths in epochs, strictly increasing; the last is the final model's length."""

    epochs: tuple[int, ...]

    def __post_init__(self) -> None:
        values = tuple(self.epochs)
        if not values or len(values) > MAX_RUNGS or any(
            isinstance(e, bool) or not isinstance(e, int) or e < 1 for e in values
        ) or list(values) != sorted(set(values)):
            raise ConfigError(
                f"--rungs must be 1 to {MAX_RUNGS} whole numbers of epochs, each at least 1 and strictly "
                f"increasing (e.g. 1,3,9,27), but got {','.join(map(str, values)) or 'nothing'}"
            )
        object.__setattr__(self, "epochs", values)

    @classmethod
    def geometric(cls, *, top: int, first: int, factor: int) -> Rungs:
        """``first``, ``first * factor``, ... below ``top``, then ``top``."""
        epochs = []
        length = first
        while length < top:
            epochs.append(length)
            length *= factor
        return cls((*epochs, top))

    @property
    def top(self) -> int:
        return self.epochs[-1]

    def __len__(self) -> int:
        return len(self.epochs)


@dataclasses.dataclass(frozen=True)
class Segment:
    """The part of a configuration's training one trial does: epochs ``start`` to ``end``.

    ``resume_from`` is the checkpoint it starts from (None: from scratch), ``parent`` the
    trial that saved it and ``root`` the configuration's rung-0 trial.
    """

    rung: int
    start: int
    end: int
    parent: int | None = None
    root: int | None = None
    resume_from: str | None = None

    @property
    def epochs(self) -> int:
        return self.end - self.start

    @classmethod
    def first(cls, rungs: Rungs) -> Segment:
        return cls(rung=0, start=0, end=rungs.epochs[0])

    @classmethod
    def of(cls, trial: optuna.trial.FrozenTrial | optuna.Trial, rungs: Rungs) -> Segment:
        """The segment ``trial`` trains (rung 0 from scratch when it records none)."""
        attrs = trial.user_attrs
        if RUNG_ATTR not in attrs:
            return cls.first(rungs)
        return cls(rung=int(attrs[RUNG_ATTR]), start=int(attrs.get(START_ATTR, 0)),
                   end=int(attrs.get(END_ATTR, rungs.epochs[0])), parent=attrs.get(PARENT_ATTR),
                   root=attrs.get(ROOT_ATTR), resume_from=attrs.get(RESUME_ATTR))

    @classmethod
    def promotion(cls, trial: optuna.trial.FrozenTrial, rungs: Rungs) -> Segment:
        """The next segment of ``trial``'s configuration, continuing from its checkpoint."""
        done = cls.of(trial, rungs)
        return cls(rung=done.rung + 1, start=done.end, end=rungs.epochs[done.rung + 1], parent=trial.number,
                   root=done.root if done.root is not None else trial.number,
                   resume_from=trial.user_attrs.get(CHECKPOINT_ATTR))

    def attrs(self) -> dict[str, Any]:
        """The user attributes that record this segment on its trial."""
        recorded: dict[str, Any] = {RUNG_ATTR: self.rung, START_ATTR: self.start, END_ATTR: self.end}
        if self.parent is not None:
            recorded.update({PARENT_ATTR: self.parent, ROOT_ATTR: self.root, RESUME_ATTR: self.resume_from})
        return recorded


def seconds_per_epoch(trial: optuna.trial.FrozenTrial) -> float:
    """The pace ``trial`` trained at: its ``train_seconds`` over its ``epochs_run`` (0 when it recorded none)."""
    seconds, epochs = trial.user_attrs.get(TRAIN_SECONDS_ATTR), trial.user_attrs.get(EPOCHS_RUN_ATTR)
    if not isinstance(seconds, (int, float)) or not isinstance(epochs, int) or epochs < 1:
        return 0.0
    return float(seconds) / epochs


def rung_of(trial: optuna.trial.FrozenTrial) -> int:
    return int(trial.user_attrs.get(RUNG_ATTR, 0))


def config_of(trial: optuna.trial.FrozenTrial) -> int:
    """The number of the rung-0 trial of ``trial``'s configuration."""
    root = trial.user_attrs.get(ROOT_ATTR)
    return trial.number if root is None else int(root)


def epochs_counted(trial: optuna.trial.FrozenTrial, rungs: Rungs) -> int:
    """The epochs ``trial`` counts against an epoch budget: what it trained once finished
    (its record, else its reported epochs, for a worker that died), what it may train
    while queued or running."""
    if trial.state in (TrialState.RUNNING, TrialState.WAITING):
        return Segment.of(trial, rungs).epochs
    recorded = trial.user_attrs.get(EPOCHS_RUN_ATTR)
    return int(recorded) if isinstance(recorded, int) else len(trial.intermediate_values)


def screening_trials(trials: Iterable[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The rung-0 trials: the one fidelity every optimizer learns from."""
    return [t for t in trials if rung_of(t) == 0]


def finite_value(trial: optuna.trial.FrozenTrial) -> float | None:
    if trial.state != TrialState.COMPLETE or trial.value is None or not math.isfinite(trial.value):
        return None
    return float(trial.value)


def segments_recorded(attrs: Mapping[str, Any]) -> bool:
    return RUNG_ATTR in attrs
