"""The LSTM classifier: each 28x28 image read as 28 time steps of 28 features.

:data:`MODEL_PARAMS` is the one list of hyperparameters the builder honours, with
the kinds of search dimension each may take, the hard limits of a sane value and
the value used when a search space leaves it out. A search space may name only
these (``batch_size`` is honoured by the trainer, not the graph).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from models.data import IMAGE_SIDE, NUM_CLASSES

if TYPE_CHECKING:
    import keras

DECAY_RATE = 0.96


@dataclasses.dataclass(frozen=True)
class ParamRule:
    """What the model accepts for one hyperparameter."""

    value_type: type
    minimum: float
    maximum: float
    default: int | float
    help: str

    def check(self, name: str, value: Any) -> None:
        """Raise ``ValueError`` unless ``value`` has the right type and lies in the limits."""
        is_bool = isinstance(value, bool)
        ok_type = not is_bool and (
            isinstance(value, int) if self.value_type is int else isinstance(value, (int, float))
        )
        if not ok_type:
            raise ValueError(f"{name!r} must be {self.value_type.__name__}, but got {value!r}")
        if not self.minimum <= value <= self.maximum:
            raise ValueError(
                f"{name!r} must lie in [{self.minimum:g}, {self.maximum:g}], but got {value!r}"
            )


MODEL_PARAMS: Mapping[str, ParamRule] = types.MappingProxyType(
    {
        "num_layers": ParamRule(int, 1, 8, 1, "stacked LSTM layers"),
        "units": ParamRule(int, 1, 2048, 128, "units per LSTM layer"),
        "learning_rate": ParamRule(float, 1e-7, 1.0, 1e-3, "Adam's initial learning rate"),
        "decay_steps": ParamRule(int, 1, 10**7, 1000, "steps per 0.96x learning-rate decay"),
        "dropout": ParamRule(float, 0.0, 0.9, 0.0, "input dropout of every LSTM layer"),
        "bidirectional": ParamRule(int, 0, 1, 0, "1: every LSTM layer reads the rows both ways (a BiLSTM)"),
        "batch_size": ParamRule(int, 1, 8192, 128, "training batch size (overrides --batch-size)"),
    }
)


def resolve_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Fill in the defaults of :data:`MODEL_PARAMS` and check every value.

    Raises:
        ValueError: a name the model does not know, or a value outside its limits.
    """
    unknown = sorted(set(params) - set(MODEL_PARAMS))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {', '.join(map(repr, unknown))}; "
            f"the model knows {', '.join(MODEL_PARAMS)}"
        )
    resolved = {name: rule.default for name, rule in MODEL_PARAMS.items()}
    resolved.update(params)
    for name, value in resolved.items():
        MODEL_PARAMS[name].check(name, value)
    return resolved


def build_model(params: Mapping[str, Any]) -> keras.Model:
    """Build and compile the classifier for ``params`` (missing ones take their default).

    ``num_layers`` LSTM layers of ``units`` units (all but the last return sequences;
    each wrapped in ``Bidirectional`` when ``bidirectional`` is 1),
    a Dense softmax head over the 10 digits, and Adam with
    ``ExponentialDecay(learning_rate, decay_steps, decay_rate=0.96)``.
    """
    import keras

    p = resolve_params(params)
    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE), name="rows")
    x = inputs
    for layer in range(p["num_layers"]):
        last = layer == p["num_layers"] - 1
        lstm = keras.layers.LSTM(p["units"], return_sequences=not last, dropout=p["dropout"], name=f"lstm_{layer}")
        x = (keras.layers.Bidirectional(lstm, name=f"bilstm_{layer}") if p["bidirectional"] else lstm)(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="digit")(x)
    model = keras.Model(inputs, outputs, name="lstm_mnist")
    schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=p["learning_rate"], decay_steps=p["decay_steps"], decay_rate=DECAY_RATE
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
