from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.errors import ConfigError
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
_dimension = st.dictionaries(st.sampled_from(["type", "low", "high", "log", "choices", "step"]),
                             st.one_of(st.sampled_from(["int", "float", "categorical"]), _values), max_size=5)
_spec = st.dictionaries(
    st.sampled_from(["dimensions", "extends", "junk"]),
    st.one_of(_values, st.dictionaries(st.sampled_from(["units", "num_layers", "learning_rate", "dropout", "bogus"]),
                                       _dimension, max_size=3)),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(_spec)
def test_any_spec_is_accepted_valid_or_refused_cleanly(spec):
    try:
        space = space_from_spec(spec)
    except ConfigError:
        return
    for dim in space:
        dist = dim.distribution()  # Optuna accepts every dimension we accept
        assert dist is not None
