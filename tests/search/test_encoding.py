from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from search.encoding import UnitCubeEncoding
from search.space import DEFAULT_SPACE, Dimension, SearchSpace


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


# Every dimension type, with a linear float whose low is not 0 (where the naive round trip
# low + u * (high - low) lands one float step away, about once in a hundred values).
ROUND_TRIP_SPACE = SearchSpace(
    (
        Dimension("dropout", "float", low=0.05, high=0.5),
        Dimension("learning_rate", "float", low=1e-7, high=1.0, log=True),
        Dimension("num_layers", "int", low=1, high=8),
        Dimension("decay_steps", "int", low=1, high=10**7, log=True),
        Dimension("batch_size", "categorical", choices=(32, 64, 128, 1000)),
    )
)


def _params_of(space: SearchSpace) -> st.SearchStrategy[dict]:
    def values(d: Dimension) -> st.SearchStrategy:
        if d.kind == "categorical":
            return st.sampled_from(d.choices)
        if d.kind == "int":
            return st.integers(int(d.low), int(d.high))
        return st.floats(d.low, d.high)

    return st.fixed_dictionaries({d.name: values(d) for d in space})


def _same_bits(decoded: dict, params: dict) -> bool:
    return all(type(decoded[k]) is type(v) and decoded[k] == v for k, v in params.items())


@settings(max_examples=500, deadline=None)
@given(st.lists(_params_of(ROUND_TRIP_SPACE), min_size=1, max_size=20))
def test_decode_of_encode_is_exact_for_every_dimension_type(batch):
    # Many configurations through one encoding, as an HHO warm start encodes its best trials.
    enc = UnitCubeEncoding(ROUND_TRIP_SPACE)
    points = [enc.encode(params) for params in batch]
    for params, point in zip(batch, points, strict=True):
        decoded = enc.decode(point)
        assert _same_bits(decoded, params), (params, decoded)
        assert np.all((point >= 0.0) & (point <= 1.0))


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_float_round_trip_is_exact_for_any_bounds(data):
    low = data.draw(st.floats(0.0, 0.8, exclude_min=True), label="low")
    high = data.draw(st.floats(low, 0.9, exclude_min=True), label="high")
    log = data.draw(st.booleans(), label="log")
    space = SearchSpace((Dimension("dropout", "float", low=low, high=high, log=log),))
    values = data.draw(st.lists(st.floats(low, high), min_size=1, max_size=10), label="values")
    enc = UnitCubeEncoding(space)
    points = [enc.encode({"dropout": v}) for v in values]
    assert [enc.decode(p)["dropout"] for p in points] == values


@settings(max_examples=300, deadline=None)
@given(_params_of(ROUND_TRIP_SPACE))
def test_ints_and_choices_round_trip_by_the_formula_alone(params):
    # No memory involved: a fresh encoding decodes the point another one encoded.
    point = UnitCubeEncoding(ROUND_TRIP_SPACE).encode(params)
    decoded = UnitCubeEncoding(ROUND_TRIP_SPACE).decode(point)
    for d in ROUND_TRIP_SPACE:
        if d.kind != "float":
            assert type(decoded[d.name]) is type(params[d.name]) and decoded[d.name] == params[d.name]


def test_the_reported_dropout_comes_back_exactly():
    enc = UnitCubeEncoding(SearchSpace((Dimension("dropout", "float", low=0.05, high=0.5),)))
    assert enc.decode(enc.encode({"dropout": 0.2936575491120913}))["dropout"] == 0.2936575491120913


def test_values_one_step_apart_get_points_of_their_own():
    # Log space is coarser than the values near the top of a wide range: distinct values
    # can share a formula coordinate; each still decodes to itself.
    space = SearchSpace((Dimension("learning_rate", "float", low=1e-7, high=1.0, log=True),))
    enc = UnitCubeEncoding(space)
    values = [0.9]
    for _ in range(8):
        values.append(math.nextafter(values[-1], 1.0))
    points = [enc.encode({"learning_rate": v}) for v in values]
    assert len({float(p[0]) for p in points}) == len(values)
    assert [enc.decode(p)["learning_rate"] for p in points] == values


def test_a_range_too_narrow_for_log_space_still_round_trips():
    # Bounds a few float steps apart have equal logarithms: every value has the same formula
    # coordinate (the centre), and each must still get a point of its own.
    low = 0.125
    values = [low]
    for _ in range(5):
        values.append(math.nextafter(values[-1], 1.0))
    space = SearchSpace((Dimension("dropout", "float", low=low, high=values[-1], log=True),))
    enc = UnitCubeEncoding(space)
    points = [enc.encode({"dropout": v}) for v in reversed(values)]
    assert [enc.decode(p)["dropout"] for p in points] == list(reversed(values))
