from __future__ import annotations

import json

import optuna
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from models.errors import ConfigError
from models.lstm import MODEL_PARAMS
from search.space import DEFAULT_SPACE
from search.space_file import load_space_file, space_from_spec

TOML = """
extends = "default"

[dimensions.dropout]
type = "float"
low = 0.0
high = 0.5

[dimensions.batch_size]
type = "categorical"
choices = [64, 128]
"""


def test_toml_extends_default(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(TOML)
    space = load_space_file(path)
    assert space.names == DEFAULT_SPACE.names + ("dropout", "batch_size")


def test_json_replaces_default(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"dimensions": {"units": {"type": "int", "low": 4, "high": 8}}}))
    assert load_space_file(path).names == ("units",)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("dimensions:\n  units: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="cannot be parsed"):
        load_space_file(path)


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("s.txt", "", "suffix '.txt'"),
        ("s.toml", "dimensions = [", "cannot be parsed"),
        ("s.json", '{"dimensions": {}, "extra": 1}', "unknown top-level key\\(s\\) extra"),
        ("s.json", '{"extends": "other", "dimensions": {"units": {"type": "int", "low": 1, "high": 2}}}',
         "'extends' must be one of 'default'"),
        ("s.json", "[1, 2]", "top level must be a table"),
    ],
)
def test_bad_files(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_space_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read space file"):
        load_space_file(tmp_path / "none.toml")


_values = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=5), st.lists(st.integers(0, 300), max_size=4))
_NAMES = st.sampled_from(["units", "num_layers", "learning_rate", "dropout", "decay_steps", "batch_size", "bogus"])
_dimension = st.dictionaries(st.sampled_from(["type", "low", "high", "log", "choices", "step"]),
                             st.one_of(st.sampled_from(["int", "float", "categorical"]), _values), max_size=5)
# Well-formed dimensions whose values may still break a rule.
_bound = st.one_of(st.integers(-2, 300), st.floats(-0.2, 1.2))
_near_valid = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["int", "float"]), "low": _bound, "high": _bound},
                          optional={"log": st.booleans()}),
    st.fixed_dictionaries({"type": st.just("categorical"),
                           "choices": st.lists(st.one_of(st.integers(0, 300), st.floats(0, 1)), max_size=4)}),
)


@st.composite
def _valid_dimension(draw, name):
    """A dimension within the model's limits for ``name``, of the kind it takes."""
    rule = MODEL_PARAMS[name]
    whole = rule.value_type is int
    number = st.integers(rule.minimum, rule.maximum) if whole else st.floats(rule.minimum, rule.maximum)
    if draw(st.booleans()):
        return {"type": "categorical", "choices": draw(st.lists(number, min_size=1, max_size=4, unique=True))}
    low, high = sorted(draw(st.lists(number, min_size=2, max_size=2, unique=True)))
    return {"type": "int" if whole else "float", "low": low, "high": high, "log": low > 0 and draw(st.booleans())}


_valid_dimensions = st.lists(st.sampled_from(sorted(MODEL_PARAMS)), min_size=1, max_size=3, unique=True).flatmap(
    lambda names: st.fixed_dictionaries({name: _valid_dimension(name) for name in names}))
_spec = st.one_of(
    st.fixed_dictionaries(
        {"dimensions": st.one_of(_valid_dimensions,
                                 st.dictionaries(_NAMES, st.one_of(_near_valid, _dimension), max_size=3))},
        optional={"extends": st.one_of(st.just("default"), _values)}),
    st.dictionaries(st.sampled_from(["dimensions", "extends", "junk"]),
                    st.one_of(_values, st.dictionaries(_NAMES, _dimension, max_size=3)), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(_spec)
# Found by this test: a range one float step wide, where Optuna returns NumPy's float64.
@example({"dimensions": {"dropout": {"type": "float", "low": 1e-07, "high": 1.0000000000000001e-07, "log": False}}})
def test_any_spec_is_accepted_as_written_or_refused_cleanly(spec):
    try:
        space = space_from_spec(spec)
    except ConfigError:
        return
    given_dims = spec["dimensions"]
    base = DEFAULT_SPACE.names if spec.get("extends") == "default" else ()
    assert space.names == tuple(dict.fromkeys((*base, *given_dims)))
    by_name = {dim.name: dim for dim in space}
    for name, dim_spec in given_dims.items():  # each dimension is the one the file wrote, log scale off by default
        expected = dim_spec if dim_spec["type"] == "categorical" else {"log": False, **dim_spec}
        assert by_name[name].to_dict() == expected
    # Optuna samples every accepted space, and inside it (a bad range makes its distributions raise).
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask(space.distributions())
    assert space.contains(trial.params), trial.params
