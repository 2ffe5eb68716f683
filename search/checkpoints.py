"""Checkpoints: the model a segment ends with, kept in Optuna's artifact store.

A checkpoint is a Keras ``.keras`` file (weights, optimizer state, and with it the
learning-rate schedule's step), uploaded as an artifact of the trial that trained it.
The artifact store is a directory by default (Optuna's ``FileSystemArtifactStore``);
on a directory all hosts share, a worker anywhere can continue a configuration another
worker screened, and ``export`` can hand back the final model without training it again.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound

from models.errors import ConfigError

if TYPE_CHECKING:
    import keras

CHECKPOINT_FILE = "checkpoint.keras"


class CheckpointStore:
    """Saves and loads models as artifacts of the trials that trained them."""

    def __init__(self, *, directory: str | Path) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--artifacts {str(self.directory)!r} cannot be used as the checkpoint directory "
                              f"({exc.strerror}); give a writable directory (shared by all hosts)") from None
        self._store = FileSystemArtifactStore(str(self.directory))

    def save(self, *, trial: optuna.Trial, model: keras.Model) -> str:
        """Upload ``model`` as an artifact of ``trial``; return its artifact id."""
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / CHECKPOINT_FILE
            model.save(path)
            return upload_artifact(artifact_store=self._store, file_path=str(path), study_or_trial=trial)

    def load(self, artifact_id: str) -> keras.Model:
        """The compiled model of ``artifact_id``, ready to train on from where it stopped.

        Raises:
            FileNotFoundError: no such checkpoint in this store.
        """
        import keras

        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / CHECKPOINT_FILE
            try:
                download_artifact(artifact_store=self._store, artifact_id=artifact_id, file_path=str(path))
            except ArtifactNotFound:
                raise FileNotFoundError(f"no checkpoint {artifact_id} in {self.directory}") from None
            return keras.models.load_model(path)
