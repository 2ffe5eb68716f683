from __future__ import annotations

import logging

import optuna
import pytest

from models.errors import ConfigError
from search.optimizers import create_optimizer
from search.optimizers.hho import CACHE_HITS_ATTR, default_pop_size
from search.space import DEFAULT_SPACE, SearchSpace
from studies.launch import run_study
from tests.helpers import AnalyticObjective


def _study(db_url, name="h"):
    return optuna.create_study(study_name=name, storage=db_url, direction="maximize")


def _run(study, budget, *, pop_size=5, seed=0, space=DEFAULT_SPACE):
    objective = AnalyticObjective(space)
    hho = create_optimizer("hho", seed=seed, budget=budget, options={"pop_size": pop_size})
    run_study(study=study, optimizer=hho, objective=objective, budget=budget)
    return objective


def test_no_configuration_is_trained_twice_and_hits_are_counted(db_url):
    study = _study(db_url)
    objective = _run(study, 30)
    keys = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(keys) == 30 and len(set(keys)) == 30
    assert objective.calls == 30  # every call of the objective is one stored trial
    assert study.user_attrs[CACHE_HITS_ATTR] > 0  # HHO re-scores unchanged hawks: served from cache


def test_trials_say_which_iteration_and_hawk(db_url):
    study = _study(db_url)
    _run(study, 12)
    first = study.trials[:5]
    assert [t.user_attrs["hho_phase"] for t in first] == ["init"] * 5
    assert [t.user_attrs["hho_hawk"] for t in first] == [0, 1, 2, 3, 4]
    assert {t.user_attrs["hho_iteration"] for t in study.trials[5:]} >= {1}


def test_budget_smaller_than_population_is_exact(db_url):
    study = _study(db_url)
    _run(study, 3, pop_size=8)
    assert len(study.trials) == 3


def test_resume_warm_starts_from_stored_trials(db_url):
    study = _study(db_url)
    _run(study, 10)
    before = {tuple(sorted(t.params.items())) for t in study.trials}
    best_before = study.best_value
    _run(study, 20)
    assert len(study.trials) == 20
    after = [tuple(sorted(t.params.items())) for t in study.trials[10:]]
    assert not before & set(after)  # stored configurations were served from cache, not retrained
    assert study.best_value >= best_before


def test_tiny_space_stops_instead_of_looping(db_url, caplog):
    space = SearchSpace.from_dict({"dimensions": {"num_layers": {"type": "int", "low": 1, "high": 2}}})
    study = _study(db_url)
    with caplog.at_level(logging.WARNING):
        _run(study, 5, space=space)
    assert len(study.trials) == 2
    assert "budget unspent" in caplog.text


def test_mealpy_prints_nothing(db_url, capsys):
    _run(_study(db_url), 8)
    captured = capsys.readouterr()
    assert captured.out == "" and "Epoch" not in captured.err


@pytest.mark.parametrize("pop_size", [4, 0, 1001, 2.5, True])
def test_pop_size_validation(pop_size):
    with pytest.raises(ConfigError, match=r"--pop-size must be a whole number in \[5, 1000\]"):
        create_optimizer("hho", seed=0, budget=10, options={"pop_size": pop_size})


def test_default_pop_size():
    assert [default_pop_size(b) for b in (10, 50, 100, 1000)] == [5, 5, 10, 30]


def test_pop_size_refused_by_other_optimizers():
    with pytest.raises(ConfigError, match="--pop-size does not apply to --optimizer tpe"):
        create_optimizer("tpe", seed=0, budget=10, options={"pop_size": 5})


def test_unknown_optimizer():
    with pytest.raises(ConfigError, match="unknown optimizer 'cma'; choose one of tpe, random, hho"):
        create_optimizer("cma", seed=0, budget=10)


class _ReversedTrainer:
    """A trainer that trains each batch last-first (as parallel workers may finish) and records the batches."""

    def __init__(self, study, objective):
        from search.optimizers.trainer import LocalTrainer

        self._local = LocalTrainer(study=study, objective=objective)
        self.batches = []

    def train(self, proposals, *, callbacks=()):
        self.batches.append(len(proposals))
        return list(reversed(self._local.train(list(reversed(proposals)), callbacks=callbacks)))


def test_populations_are_trained_as_batches_and_completion_order_does_not_change_the_search(db_url):
    budget, pop_size = 24, 5
    in_order = _study(db_url, "in-order")
    _run(in_order, budget, pop_size=pop_size)
    shuffled = _study(db_url, "reversed")
    objective = AnalyticObjective(DEFAULT_SPACE)
    trainer = _ReversedTrainer(shuffled, objective)
    hho = create_optimizer("hho", seed=0, budget=budget, options={"pop_size": pop_size}).with_trainer(trainer)
    run_study(study=shuffled, optimizer=hho, objective=objective, budget=budget)
    assert trainer.batches[0] == pop_size  # the initial population, all at once
    assert any(size > 1 for size in trainer.batches[1:]), trainer.batches  # re-scored populations
    assert sum(trainer.batches) == budget == len(shuffled.trials)
    # Same proposals, same values: each result went back to the hawk that proposed it.
    by_params = {tuple(sorted(t.params.items())): t.value for t in in_order.trials}
    assert {tuple(sorted(t.params.items())): t.value for t in shuffled.trials} == by_params
