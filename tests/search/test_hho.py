from __future__ import annotations

import logging
import math

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from models.errors import ConfigError
from search.failures import DIVERGED, FAIL_KIND_ATTR, INTERRUPTED, NO_EPOCH, OUT_OF_MEMORY, WORKER_DIED
from search.objective import PROPOSAL_ATTR, training_seed
from search.optimizers import create_optimizer
from search.optimizers.hho import CACHE_HITS_ATTR, default_pop_size
from search.space import DEFAULT_SPACE, SearchSpace
from studies.launch import run_study
from studies.running.leader import Leader
from studies.store.budget import StudyBudget, lock_of
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
    assert "found no configuration not already tried" in caplog.text


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


def _run_newest_first(study, objective, *, budget, pop_size):
    """Lead HHO as the trial loop does, but train each step's queued trials newest first (as
    parallel workers may take and finish them); returns how many trials each step queued."""
    hho = create_optimizer("hho", seed=0, budget=budget, options={"pop_size": pop_size})
    keeper = StudyBudget(study=study, budget=budget, lock=lock_of(study))
    leader = Leader(budget=keeper, optimizer=hho, space=objective.space)
    batches = []
    try:
        while keeper.counts().finished < budget:
            batches.append(leader.step())
            waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            assert waiting, "HHO proposed nothing while nothing was running"
            for frozen in reversed(waiting):
                assert study._storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING)
                trial = optuna.Trial(study, frozen._trial_id)
                study.tell(trial, objective(trial))
    finally:
        leader.close()
    return [size for size in batches if size]


def test_populations_are_trained_as_batches_and_completion_order_does_not_change_the_search(db_url):
    budget, pop_size = 24, 5
    in_order = _study(db_url, "in-order")
    _run(in_order, budget, pop_size=pop_size)
    shuffled = _study(db_url, "reversed")
    batches = _run_newest_first(shuffled, AnalyticObjective(DEFAULT_SPACE), budget=budget, pop_size=pop_size)
    assert batches[0] == pop_size  # the initial population, all at once
    assert any(size > 1 for size in batches[1:]), batches  # re-scored populations
    assert sum(batches) == budget == len(shuffled.trials)
    # Same proposals, same values: each result went back to the hawk that proposed it.
    by_params = {tuple(sorted(t.params.items())): t.value for t in in_order.trials}
    assert {tuple(sorted(t.params.items())): t.value for t in shuffled.trials} == by_params


# Dropout in [0.05, 0.5]: the naive unit-cube round trip of each of these values lands one
# float step away (0.28031973111511554 -> 0.2803197311151156), so a warm start from them
# used to miss the cache and train them again.
DROPOUT_SPACE = SearchSpace.from_dict({"dimensions": {
    "dropout": {"type": "float", "low": 0.05, "high": 0.5},
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "units": {"type": "int", "low": 16, "high": 256, "log": True},
    "batch_size": {"type": "categorical", "choices": [32, 64, 128]},
}})
OFF_BY_A_STEP = (0.28031973111511554, 0.28786516846700977, 0.27516039383159197, 0.27772921513821786,
                 0.2846863049595879)


def _add(study, space, params, *, state=TrialState.COMPLETE, value=None, user_attrs=None):
    study.add_trial(optuna.trial.create_trial(state=state, params=params, distributions=space.distributions(),
                                              value=value, user_attrs=user_attrs or {}))


def test_a_warm_start_trains_none_of_the_stored_configurations(db_url):
    pop_size = 10  # the warm start keeps the best half: all five stored configurations
    study = _study(db_url)
    stored = []
    for i, dropout in enumerate(OFF_BY_A_STEP):
        params = {"dropout": dropout, "learning_rate": 1e-3 * (1 + i / 10), "units": 32 + i, "batch_size": 64}
        _add(study, DROPOUT_SPACE, params, value=0.9 + i / 100)
        stored.append(params)
    budget = len(stored) + 12
    objective = _run(study, budget, pop_size=pop_size, space=DROPOUT_SPACE)
    new = study.trials[len(stored):]
    assert objective.calls == len(new) == budget - len(stored)

    def near(a, b):
        return all(math.isclose(a[k], b[k], rel_tol=1e-12) if isinstance(b[k], float) else a[k] == b[k] for k in b)

    retrained = [t.params for t in new if any(near(t.params, s) for s in stored)]
    assert retrained == []
    initial = [t for t in new if t.user_attrs["hho_restart"] == 0 and t.user_attrs["hho_phase"] == "init"]
    assert len(initial) == pop_size - len(stored)  # only the random half of the first population was trained


@pytest.mark.parametrize("kind, retried", [
    (DIVERGED, False), (OUT_OF_MEMORY, False), (NO_EPOCH, False),
    (INTERRUPTED, True), (WORKER_DIED, True), (None, True),
])
def test_a_failed_configuration_is_trained_again_only_when_the_run_failed_it(db_url, kind, retried):
    # Three configurations in all, so HHO proposes every one of them, the failed one too.
    space = SearchSpace.from_dict({"dimensions": {"num_layers": {"type": "int", "low": 1, "high": 3}}})
    study = _study(db_url)
    _add(study, space, {"num_layers": 1}, state=TrialState.FAIL,
         user_attrs={FAIL_KIND_ATTR: kind} if kind is not None else {})
    _run(study, 1 + 5, space=space)
    trained = sorted(t.params["num_layers"] for t in study.trials[1:])
    assert trained == ([1, 2, 3] if retried else [2, 3])
    if not retried:
        assert study.user_attrs[CACHE_HITS_ATTR] > 0  # HHO did propose it: the cache answered


RUN_SEED = 7
SEED_NOISE = 0.05  # large enough that a different seed changes which hawk is best


class _SeededObjective(AnalyticObjective):
    """The analytic objective plus noise drawn from the training seed, read as LstmObjective reads it."""

    def __call__(self, trial):
        value = super().__call__(trial)
        return value + np.random.default_rng(training_seed(RUN_SEED, trial)).uniform(0.0, SEED_NOISE)


def test_the_order_workers_claim_trials_in_changes_neither_values_nor_the_search(db_url):
    budget, pop_size = 24, 5
    in_order = _study(db_url, "in-order")
    run_study(study=in_order, optimizer=create_optimizer("hho", seed=0, budget=budget, options={"pop_size": pop_size}),
              objective=_SeededObjective(DEFAULT_SPACE), budget=budget)
    shuffled = _study(db_url, "reversed")
    _run_newest_first(shuffled, _SeededObjective(DEFAULT_SPACE), budget=budget, pop_size=pop_size)

    def by_params(study):
        return {tuple(sorted(t.params.items())): (t.value, t.number) for t in study.trials}

    first, second = by_params(in_order), by_params(shuffled)
    assert {k: v for k, (v, _) in second.items()} == {k: v for k, (v, _) in first.items()}
    started = [t.number for t in sorted(shuffled.trials, key=lambda t: t.datetime_start)]
    assert started != sorted(started)  # the trials were trained in another order than proposed
    assert sorted(t.user_attrs[PROPOSAL_ATTR] for t in shuffled.trials) == list(range(budget))


def test_proposals_of_a_resumed_run_are_numbered_on_from_the_trials_held(db_url):
    study = _study(db_url)
    _run(study, 7)
    _run(study, 12)
    assert [t.user_attrs[PROPOSAL_ATTR] for t in study.trials] == list(range(12))


def test_a_trial_whose_worker_died_while_asking_for_params_is_its_queued_configuration():
    """Killed between two suggests, a worker leaves part of the params: HHO must still know
    the configuration it queued (else it neither retries it nor scores it, and waits forever)."""
    from search.optimizers.hho import _configuration

    queued = {"decay_steps": 149, "learning_rate": 0.0056, "num_layers": 2, "units": 179}
    partial = optuna.trial.create_trial(state=TrialState.FAIL, system_attrs={"fixed_params": queued},
                                        params={"num_layers": 2, "units": 179},
                                        distributions={"num_layers": optuna.distributions.IntDistribution(1, 3),
                                                       "units": optuna.distributions.IntDistribution(16, 256)})
    assert _configuration(partial) == queued
