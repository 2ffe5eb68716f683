"""The final model as tuning left it: the exported trial's checkpoint, scored once on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.data import MnistData
from models.errors import ConfigError
from search.checkpoints import CheckpointStore
from studies.export.scoring import score_once

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
    scored = score_once(model, data=data, model_out=model_out,
                        what=f"the final model: trial {config['trial']}, {config['epochs']} epochs on the train split")
    return {
        **scored,
        "trained_on": TRAINED_ON,
        "train_samples": len(data.train),
        "epochs": config["epochs"],
        "model_file": str(model_out),
    }
