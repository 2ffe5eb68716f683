"""The final model as tuning left it: the exported trial's checkpoint, scored once on the test split."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from models.data import MnistData
from models.errors import ConfigError
from search.checkpoints import CheckpointStore

_logger = logging.getLogger(__name__)

TRAINED_ON = "train"


def save_checkpoint_model(config: dict[str, Any], *, data: MnistData, model_out: Path) -> dict[str, Any]:
    """Load the checkpoint of ``config``'s trial, evaluate it once on the test split, save it.

    Returns what was done, with ``test_accuracy``, for the exported file.

    Raises:
        ConfigError: the trial saved no checkpoint, or it cannot be read from the study's artifact store.
    """
    artifact, directory = config.get("checkpoint"), config.get("artifacts")
    if artifact is None or directory is None:
        raise ConfigError(f"trial {config['trial']} of study {config['study']!r} saved no checkpoint; "
                          "use --retrain to train its configuration again")
    try:
        model = CheckpointStore(directory=directory).load(artifact)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the checkpoint of trial {config['trial']} cannot be read from {directory!r} ({exc}); "
                          "give the study's artifact directory, or use --retrain") from None
    loss, accuracy = model.evaluate(data.test.x, data.test.y, verbose=0)
    _logger.info("Test accuracy %.4f on %d samples (trial %d, %d epochs on the train split)", accuracy,
                 len(data.test), config["trial"], config["epochs"])
    model.save(model_out)
    _logger.info("Saved the final model to %s", model_out)
    return {
        "test_accuracy": float(accuracy),
        "test_loss": float(loss),
        "test_samples": len(data.test),
        "trained_on": TRAINED_ON,
        "train_samples": len(data.train),
        "epochs": config["epochs"],
        "model_file": str(model_out),
    }
