"""MNIST data and the Keras LSTM classifier."""

from __future__ import annotations

from models.data import MnistData, Split, load_mnist
from models.errors import ConfigError, DataError
from models.lstm import MODEL_PARAMS, build_model, resolve_params

__all__ = [
    "MODEL_PARAMS",
    "ConfigError",
    "DataError",
    "MnistData",
    "Split",
    "build_model",
    "load_mnist",
    "resolve_params",
]
