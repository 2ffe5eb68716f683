"""Objectives: what an optimizer calls with an Optuna trial to get a value to maximize.

The contract (:class:`Objective`) is what every optimizer relies on, so the cheap
analytic objectives of the contract tests and the real LSTM objective are
interchangeable.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn, Protocol

import optuna

from models.data import MnistData
from models.errors import ConfigError, check_whole_number
from models.lstm import build_model
from search.checkpoints import CheckpointStore
from search.failures import (
    DIVERGED,
    FAIL_KIND_ATTR,
    FAIL_REASON_ATTR,
    INTERRUPTED,
    NO_CHECKPOINT,
    NO_EPOCH,
    OUT_OF_MEMORY,
)
from search.schedulers.segments import CHECKPOINT_ATTR, EPOCHS_RUN_ATTR, TRAIN_SECONDS_ATTR, Rungs, Segment
from search.space import SearchSpace

_logger = logging.getLogger(__name__)

# The final model's length (the top rung) when none is given: on full MNIST the same
# configuration scored 98.8 % test after 3 epochs and 99.24 % after 10 (issue #12); with the
# default rungs 1, 3, 9, 27 most configurations train one epoch.
DEFAULT_EPOCHS = 27
DEFAULT_BATCH_SIZE = 128
MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 8192
# Spacing between the seeds of consecutive trials, so trial seeds of nearby run seeds
# do not collide (run seed 0 trial 1 vs run seed 1 trial 0).
SEED_STRIDE = 1_000_003
# A finite value below every real result (validation accuracy is at least 0): what an
# optimizer that needs a number for every configuration (HHO) is given for a failure.
WORST_VALUE = 0.0
# Set on a trial by an optimizer that numbers the proposals it has trained (HHO): the
# proposal's place in the search, which the trial's training seed comes from instead of
# its trial number (see :func:`training_seed`).
PROPOSAL_ATTR = "proposal"


class TrialFailed(Exception):
    """A failure of one trial (diverged loss, out of memory): recorded FAIL, the study goes on."""


class Objective(Protocol):
    """A callable ``(trial) -> float`` to maximize.

    Contract:
        - it suggests its parameters only through ``space.suggest(trial)``, first thing, so
          every trial's params are exactly the space's dimensions;
        - it may ``trial.report`` intermediate values and raise ``optuna.TrialPruned``;
        - a failure of the trial itself raises :class:`TrialFailed` after setting the
          ``fail_reason`` user attribute, and ``fail_kind`` (:data:`FAIL_KIND_ATTR`) to the
          configuration's own kind where it knows it; an interrupted training sets
          ``fail_kind`` to :data:`INTERRUPTED` and raises ``KeyboardInterrupt``; any other
          exception is a bug and stops the study;
        - a training that depends on a seed takes it from :func:`training_seed`;
        - ``worst_value`` (:data:`WORST_VALUE`) is a finite value no real result is below: what an optimizer that
          needs a number (HHO) is given for a failed trial.
    """

    space: SearchSpace
    @property
    def worst_value(self) -> float: ...

    def __call__(self, trial: optuna.Trial) -> float: ...


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """How every trial trains: fixed for a study, not tuned."""

    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    # The training lengths configurations are compared at (see search.schedulers); the
    # last is ``epochs``, the final model's. Empty: one rung, every trial trains ``epochs``.
    rungs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check_whole_number("--epochs", self.epochs, low=1, high=MAX_EPOCHS)
        check_whole_number("--batch-size", self.batch_size, low=1, high=MAX_BATCH_SIZE)
        rungs = Rungs(tuple(self.rungs) or (self.epochs,))
        if rungs.top != self.epochs:
            raise ConfigError(f"the last of --rungs ({rungs.top}) is the final model's length and must equal "
                              f"--epochs ({self.epochs}); leave one of them out")
        object.__setattr__(self, "rungs", rungs.epochs)

    @property
    def schedule(self) -> Rungs:
        return Rungs(self.rungs)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "rungs": list(self.rungs)}


def trial_seed(run_seed: int, trial_number: int) -> int:
    """The seed of training number ``trial_number`` of a run: a function of the two only."""
    return (run_seed * SEED_STRIDE + trial_number) % (2**32)


def training_seed(run_seed: int, trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """The seed ``trial`` trains with.

    From its ``proposal`` user attribute (:data:`PROPOSAL_ATTR`) when its optimizer set
    one: HHO numbers the proposals it trains in the order of its search, so the seed, and
    with it the value and HHO's path, do not depend on which worker process claimed the
    trial first. Otherwise from the trial number: reproducible when one process runs the
    study, not across parallel workers, whose order of claims decides the numbers.
    """
    return trial_seed(run_seed, int(trial.user_attrs.get(PROPOSAL_ATTR, trial.number)))


class LstmObjective:
    """Train the LSTM of the trial's params on the train split; return validation accuracy.

    A trial trains its segment (:class:`search.schedulers.Segment`): a new configuration
    from scratch to the first rung, a promoted one from its previous segment's checkpoint
    to its next rung, so a promotion trains only the extra epochs. With ``checkpoints``,
    every segment that completes saves its model there (``checkpoint`` user attribute);
    without, configurations cannot be promoted. ``epochs_run`` and ``batches_run`` record
    what the trial trained.

    Reports the validation accuracy after every epoch (numbered from the configuration's
    start), clears the Keras session before each trial, and seeds Python, NumPy and
    TensorFlow with :func:`training_seed`.
    ``stop_requested`` is asked before training and at every batch end: once it returns
    True, training stops and the trial raises ``KeyboardInterrupt`` (Optuna stores it
    FAIL), whether the signal's own exception was deferred or swallowed by TensorFlow.
    Every FAIL it causes records its kind (:data:`FAIL_KIND_ATTR`): :data:`DIVERGED`,
    :data:`OUT_OF_MEMORY`, :data:`NO_EPOCH` or :data:`INTERRUPTED`.
    """

    worst_value: ClassVar[float] = WORST_VALUE

    def __init__(self, *, data: MnistData, space: SearchSpace, settings: TrainSettings, seed: int,
                 stop_requested: Callable[[], bool] | None = None,
                 checkpoints: CheckpointStore | None = None) -> None:
        import keras  # noqa: F401 - pay TensorFlow's import here, not inside the first trial's time

        self.space = space
        self._data = data
        self._settings = settings
        self._seed = seed
        self._stop_requested = stop_requested
        self._checkpoints = checkpoints

    def __call__(self, trial: optuna.Trial) -> float:
        import keras

        from search.epoch_watcher import EpochWatcher

        params = self.space.suggest(trial)
        if self._stop_requested is not None and self._stop_requested():
            _interrupt(trial, "stop requested before training")
        segment = Segment.of(trial, self._settings.schedule)
        keras.backend.clear_session()
        keras.utils.set_random_seed(training_seed(self._seed, trial))
        model = self._start(trial, segment, params)
        watcher = EpochWatcher(trial, stop_requested=self._stop_requested)
        started = time.perf_counter()
        try:
            model.fit(
                self._data.train.x,
                self._data.train.y,
                batch_size=params.get("batch_size", self._settings.batch_size),
                initial_epoch=segment.start,
                epochs=segment.end,
                validation_data=(self._data.val.x, self._data.val.y),
                callbacks=[watcher],
                verbose=0,
            )
        except (MemoryError, _resource_exhausted_error()) as exc:
            _fail(trial, f"out of memory: {type(exc).__name__}", kind=OUT_OF_MEMORY)
        except KeyboardInterrupt:  # a signal not deferred (a notebook): the trial was interrupted all the same
            trial.set_user_attr(FAIL_KIND_ATTR, INTERRUPTED)
            raise
        finally:
            trial.set_user_attr(TRAIN_SECONDS_ATTR, round(time.perf_counter() - started, 3))
            trial.set_user_attr(EPOCHS_RUN_ATTR, watcher.epochs_run)
            trial.set_user_attr("batches_run", watcher.batches_run)
        value = _outcome(trial, watcher)
        if self._checkpoints is not None:
            trial.set_user_attr(CHECKPOINT_ATTR, self._checkpoints.save(trial=trial, model=model))
        return value

    def _start(self, trial: optuna.Trial, segment: Segment, params: dict[str, Any]) -> Any:
        """The model ``segment`` starts from: new, or its configuration's checkpoint."""
        if segment.resume_from is None:
            return build_model(params)
        try:
            if self._checkpoints is None:
                raise FileNotFoundError("this objective has no checkpoint store")
            return self._checkpoints.load(segment.resume_from)
        except (OSError, ValueError) as exc:
            _fail(trial, f"cannot continue from checkpoint {segment.resume_from} of trial {segment.parent}: {exc}",
                  kind=NO_CHECKPOINT)


def _outcome(trial: optuna.Trial, watcher: Any) -> float:
    """The trial's value, or the interrupt, FAIL or PRUNED its training ended in."""
    if watcher.interrupted:
        _interrupt(trial, "stop requested during training")
    if watcher.failure is not None:
        _fail(trial, watcher.failure, kind=DIVERGED)
    if watcher.pruned:
        raise optuna.TrialPruned(f"pruned after epoch {watcher.epochs_run}")
    if watcher.last_value is None:
        _fail(trial, "no epoch finished", kind=NO_EPOCH)
    return watcher.last_value


def _fail(trial: optuna.Trial, reason: str, *, kind: str) -> NoReturn:
    trial.set_user_attr(FAIL_REASON_ATTR, reason)
    trial.set_user_attr(FAIL_KIND_ATTR, kind)
    raise TrialFailed(reason)


def _interrupt(trial: optuna.Trial, message: str) -> NoReturn:
    trial.set_user_attr(FAIL_KIND_ATTR, INTERRUPTED)
    raise KeyboardInterrupt(message)


def _resource_exhausted_error() -> type[Exception]:
    import tensorflow as tf

    return tf.errors.ResourceExhaustedError
