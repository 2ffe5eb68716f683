"""Retraining an exported configuration on train + validation and scoring it on the test split.

This is the only place the test split is used: once, for the configuration a study
chose, after tuning is over.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from models.data import MnistData, check_source, load_mnist
from models.errors import ConfigError
from models.lstm import build_model, resolve_params
from search.objective import TrainSettings, trial_seed
from studies.export.scoring import score_once
from studies.store.record import data_identity

_logger = logging.getLogger(__name__)

MODEL_SUFFIX = ".keras"
RETRAINED_ON = "train+validation"


def check_model_out(path: str | Path) -> Path:
    out = Path(path)
    if out.suffix != MODEL_SUFFIX:
        raise ConfigError(f"--model-out must end in {MODEL_SUFFIX} (Keras' native format), but got {str(out)!r}")
    if not out.parent.is_dir():
        raise ConfigError(f"--model-out {str(out)!r}: directory {str(out.parent)!r} does not exist")
    return out


def load_for_retrain(config: dict[str, Any], *, data: str | None) -> MnistData:
    """The data the study was tuned on: from ``data`` if given, else from where the study
    recorded it was given; either way it must be the same data (digest and split sizes).

    Raises:
        ConfigError: unusable source, or data other than the study's.
    """
    recorded = config.get("data", {})
    source = data or recorded.get("given")
    if source is None:
        raise ConfigError(f"study {config['study']!r} does not record its data; pass --data")
    check_source(source)
    mnist = load_mnist(source)
    expected = {k: v for k, v in data_identity(recorded).items() if k != "source"}
    found = {k: v for k, v in mnist.describe().items() if k in expected}
    if expected != found:
        raise ConfigError(
            f"data {source!r} is {found}, but study {config['study']!r} was tuned on {expected}; "
            "pass --data with the data the study used"
        )
    return mnist


def same_schedule_per_epoch(params: dict[str, Any], *, tuned_on: int, trained_on: int) -> dict[str, Any]:
    """``params`` with ``decay_steps`` scaled so the learning rate decays per epoch on
    ``trained_on`` samples as it did on the ``tuned_on`` the configuration was tuned on
    (the schedule counts batches, and more samples make more batches per epoch)."""
    decay_steps = resolve_params(params)["decay_steps"]
    return {**params, "decay_steps": max(1, round(decay_steps * trained_on / tuned_on))}


def retrain(
    config: dict[str, Any], *, data: MnistData, epochs: int | None = None, model_out: Path | None = None
) -> dict[str, Any]:
    """Train ``config['params']`` on train + validation, evaluate once on test, optionally save.

    ``decay_steps`` is scaled to the larger training set (:func:`same_schedule_per_epoch`),
    so the retrained model runs the learning-rate schedule the study evaluated.

    Returns what was done, with ``test_accuracy``, for the exported file.
    """
    import keras

    train = config.get("train", {})
    settings = TrainSettings(epochs=epochs or train.get("epochs", TrainSettings.epochs),
                             batch_size=train.get("batch_size", TrainSettings.batch_size))
    x = np.concatenate([data.train.x, data.val.x])
    y = np.concatenate([data.train.y, data.val.y])
    params = same_schedule_per_epoch(config["params"], tuned_on=len(data.train), trained_on=len(y))
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.get("train_seed", trial_seed(config.get("seed", 0), config["trial"])))
    model = build_model(params)
    _logger.info("Retraining trial %d of %r on %d samples (%s) for %d epoch(s)",
                 config["trial"], config["study"], len(y), RETRAINED_ON, settings.epochs)
    progress = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: _logger.info(
        "Retrain epoch %d/%d: loss %.4f, accuracy %.4f", epoch + 1, settings.epochs, logs["loss"], logs["accuracy"]))
    model.fit(x, y, batch_size=params.get("batch_size", settings.batch_size), epochs=settings.epochs,
              verbose=0, callbacks=[progress])
    scored = score_once(model, data=data, model_out=model_out, what="the retrained model")
    return {
        **scored,
        "retrained_on": RETRAINED_ON,
        "train_samples": len(y),
        "epochs": settings.epochs,
        "decay_steps": params["decay_steps"],
        "model_file": str(model_out) if model_out is not None else None,
    }
