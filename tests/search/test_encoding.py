from __future__ import annotations

import numpy as np

from search.encoding import UnitCubeEncoding
from search.space import DEFAULT_SPACE, SearchSpace


def test_decode_gives_python_values_inside_bounds():
    enc = UnitCubeEncoding(DEFAULT_SPACE)
    rng = np.random.default_rng(0)
    for point in rng.uniform(-0.2, 1.2, size=(200, len(DEFAULT_SPACE))):
        params = enc.decode(point)
        assert DEFAULT_SPACE.contains(params), params


def test_corners_reach_the_bounds():
    enc = UnitCubeEncoding(DEFAULT_SPACE)
    assert enc.decode(np.zeros(4)) == {"num_layers": 1, "units": 16, "learning_rate": 1e-4, "decay_steps": 50}
    assert enc.decode(np.ones(4)) == {"num_layers": 3, "units": 256, "learning_rate": 1e-2, "decay_steps": 5000}


def test_every_integer_gets_an_equal_share():
    space = SearchSpace.from_dict({"dimensions": {"num_layers": {"type": "int", "low": 1, "high": 3}}})
    enc = UnitCubeEncoding(space)
    counts = np.bincount([enc.decode(np.array([u]))["num_layers"] for u in np.linspace(0, 1, 3001)])
    assert counts[0] == 0 and max(counts[1:]) - min(counts[1:]) <= 1, counts


def test_log_scale_is_searched_in_log_space():
    enc = UnitCubeEncoding(DEFAULT_SPACE)
    mid = enc.decode(np.full(4, 0.5))
    assert abs(mid["learning_rate"] - 1e-3) < 1e-9


def test_encode_round_trips():
    space = SearchSpace.from_dict(
        {"dimensions": {"batch_size": {"type": "categorical", "choices": [32, 64, 128]},
                        "units": {"type": "int", "low": 4, "high": 9, "log": True},
                        "dropout": {"type": "float", "low": 0.0, "high": 0.5}}}
    )
    enc = UnitCubeEncoding(space)
    for params in ({"batch_size": 64, "units": 7, "dropout": 0.25}, {"batch_size": 128, "units": 4, "dropout": 0.0}):
        assert enc.decode(enc.encode(params)) == params
