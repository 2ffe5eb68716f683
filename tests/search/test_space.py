from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution

from models.errors import ConfigError
from search.space import DEFAULT_SPACE, SearchSpace


def test_default_space_is_the_specified_one():
    assert DEFAULT_SPACE.distributions() == {
        "num_layers": IntDistribution(1, 3),
        "units": IntDistribution(16, 256),
        "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
        "decay_steps": IntDistribution(50, 5000, log=True),
    }


def test_round_trip_through_dict():
    assert SearchSpace.from_dict(DEFAULT_SPACE.to_dict()) == DEFAULT_SPACE


def test_suggest_uses_declared_names_and_types():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = DEFAULT_SPACE.suggest(trial)
    assert DEFAULT_SPACE.contains(params)
    assert type(params["units"]) is int and type(params["learning_rate"]) is float


def test_extend_with_base():
    space = SearchSpace.from_dict(
        {"dimensions": {"dropout": {"type": "float", "low": 0.0, "high": 0.5},
                        "units": {"type": "int", "low": 8, "high": 16}}},
        base=DEFAULT_SPACE,
    )
    assert space.names == ("num_layers", "units", "learning_rate", "decay_steps", "dropout")
    assert space.distributions()["units"] == IntDistribution(8, 16)


def test_categorical():
    space = SearchSpace.from_dict({"dimensions": {"batch_size": {"type": "categorical", "choices": [32, 64]}}})
    assert space.contains({"batch_size": 64}) and not space.contains({"batch_size": 65})


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"units": {"type": "int", "low": 256, "high": 32}},
         "`low < high` must hold for 'units', but got low=256, high=32"),
        ({"units": {"type": "integer", "low": 1, "high": 2}},
         "has type 'integer'; the accepted types are int, float, categorical"),
        ({"layers": {"type": "int", "low": 1, "high": 2}}, "no hyperparameter 'layers'"),
        ({"units": {"type": "int", "low": 16, "high": 10**9}}, r"accepts 'units' in \[1, 2048\]"),
        ({"units": {"type": "float", "low": 1.0, "high": 2.0}}, "use type 'int'"),
        ({"learning_rate": {"type": "int", "low": 1, "high": 2}}, "use type 'float'"),
        ({"units": {"type": "int", "low": 1.5, "high": 8}}, "must be a whole number"),
        ({"units": {"type": "int", "low": "8", "high": 16}}, "must be a number"),
        ({"dropout": {"type": "float", "low": 0.0, "high": 0.5, "log": True}}, "log-scale dimension needs low > 0"),
        ({"dropout": {"type": "float", "low": 0.0, "high": float("nan")}}, "must be finite"),
        ({"dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1}}, "unknown key\\(s\\) step"),
        ({"units": {"type": "int", "high": 8}}, "needs 'low'"),
        ({"batch_size": {"type": "categorical", "choices": []}}, "non-empty list 'choices'"),
        ({"batch_size": {"type": "categorical", "choices": [32, 32]}}, "lists a choice twice"),
        ({"batch_size": {"type": "categorical", "choices": [0]}}, "choice 0 of dimension 'batch_size'"),
        ({"units": "big"}, "must be a table"),
    ],
)
def test_rejects_bad_dimensions(spec, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpace.from_dict({"dimensions": spec})


def test_rejects_empty():
    with pytest.raises(ConfigError, match="non-empty"):
        SearchSpace.from_dict({"dimensions": {}})
