"""The one use of the test split: a final model scored once, then saved."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.data import MnistData

if TYPE_CHECKING:
    import keras

_logger = logging.getLogger(__name__)


def score_once(model: keras.Model, *, data: MnistData, model_out: Path | None, what: str) -> dict[str, Any]:
    """Evaluate ``model`` (``what`` it is, for the log) once on the test split and save it to
    ``model_out``; returns the test figures for the exported file."""
    loss, accuracy = model.evaluate(data.test.x, data.test.y, verbose=0)
    _logger.info("Test accuracy %.4f on %d samples (%s)", accuracy, len(data.test), what)
    if model_out is not None:
        model.save(model_out)
        _logger.info("Saved %s to %s", what, model_out)
    return {"test_accuracy": float(accuracy), "test_loss": float(loss), "test_samples": len(data.test)}
