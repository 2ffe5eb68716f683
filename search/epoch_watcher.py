"""The Keras callback that connects one training run to its Optuna trial.

Imported lazily by :mod:`search.objective` (it imports Keras, and so TensorFlow).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import optuna


class EpochWatcher(keras.callbacks.Callback):
    """Report validation accuracy after each epoch; stop on a non-finite loss, a prune or a stop request.

    After ``fit`` returns, :attr:`failure` holds the reason training was stopped for a
    diverged loss, :attr:`pruned` says whether the pruner stopped it (never after the last
    epoch: a finished training is worth its value), :attr:`interrupted` whether
    ``stop_requested`` returned True at a batch end (a signal whose exception TensorFlow
    swallowed), and :attr:`last_value` is the last reported validation accuracy.
    :attr:`epochs_run` and :attr:`batches_run` count what this training ran (a training
    continued from a checkpoint numbers its epochs from the configuration's start).
    """

    # Batch ends may run on Keras' callback thread: they only read a flag and set another.
    async_safe = True

    def __init__(self, trial: optuna.Trial, *, stop_requested: Callable[[], bool] | None = None) -> None:
        super().__init__()
        self._trial = trial
        self._stop_requested = stop_requested
        self.interrupted = False
        self.epochs_run = 0
        self.batches_run = 0
        self.last_value: float | None = None
        self.failure: str | None = None
        self.pruned = False

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.batches_run += 1
        if self._stop_requested is not None and self._stop_requested():
            self.interrupted = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.interrupted:
            return
        logs = logs or {}
        self.epochs_run += 1
        loss = float(logs.get("loss", math.nan))
        if not math.isfinite(loss):
            self.failure = f"training loss became {loss} in epoch {epoch + 1}"
            self.model.stop_training = True
            return
        self.last_value = float(logs["val_accuracy"])
        self._trial.report(self.last_value, step=epoch + 1)
        if epoch + 1 < self.params.get("epochs", 0) and self._trial.should_prune():
            self.pruned = True
            self.model.stop_training = True
