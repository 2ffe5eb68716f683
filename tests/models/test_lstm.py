from __future__ import annotations

import numpy as np
import pytest

from models.lstm import DECAY_RATE, build_model, resolve_params


def test_builds_stacked_lstm_with_decaying_adam():
    import keras

    model = build_model({"num_layers": 2, "units": 8, "learning_rate": 0.01, "decay_steps": 50})
    lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
    assert [layer.units for layer in lstms] == [8, 8]
    assert [layer.return_sequences for layer in lstms] == [True, False]
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.ExponentialDecay)
    assert schedule.get_config()["decay_rate"] == DECAY_RATE
    assert schedule.get_config()["decay_steps"] == 50
    out = model.predict(np.zeros((3, 28, 28), dtype=np.float32), verbose=0)
    assert out.shape == (3, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_bidirectional_wraps_every_layer_and_is_off_by_default():
    import keras

    plain = build_model({"num_layers": 2, "units": 4})
    assert not any(isinstance(layer, keras.layers.Bidirectional) for layer in plain.layers)
    both = build_model({"num_layers": 2, "units": 4, "bidirectional": 1})
    wrapped = [layer for layer in both.layers if isinstance(layer, keras.layers.Bidirectional)]
    assert len(wrapped) == 2 and all(layer.forward_layer.units == 4 for layer in wrapped)
    assert both.layers[-1].input.shape[-1] == 8  # forward and backward states side by side


def test_defaults_fill_missing_params():
    params = resolve_params({"units": 32})
    assert params["units"] == 32 and params["num_layers"] == 1 and params["dropout"] == 0.0


@pytest.mark.parametrize(
    "params, message",
    [
        ({"bogus": 1}, "unknown hyperparameter"),
        ({"units": 10**9}, "'units' must lie in"),
        ({"num_layers": 1.5}, "'num_layers' must be int"),
        ({"learning_rate": True}, "'learning_rate' must be float"),
    ],
)
def test_rejects_bad_params(params, message):
    with pytest.raises(ValueError, match=message):
        resolve_params(params)
