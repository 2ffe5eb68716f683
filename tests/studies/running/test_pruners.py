"""Pruners: chosen by name, and every optimizer counts PRUNED trials in its exact budget."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from models.errors import ConfigError
from search.optimizers import OPTIMIZERS, create_optimizer
from search.optimizers.hho import _fitness
from studies.launch import run_study
from studies.running.pruners import HYPERBAND_REDUCTION_FACTOR, MEDIAN_STARTUP_TRIALS, PRUNERS, create_pruner
from studies.store.trials import count_finished
from tests.helpers import AnalyticObjective

EPOCHS = 4
BUDGET = 16


class SteppedObjective(AnalyticObjective):
    """The analytic value, approached over EPOCHS reported steps; prunable after each."""

    def __call__(self, trial):
        final = super().__call__(trial)
        for step in range(1, EPOCHS + 1):
            trial.report(final * step / EPOCHS, step)
            if step < EPOCHS and trial.should_prune():
                raise optuna.TrialPruned
        return final


def test_registry_and_validation():
    assert set(PRUNERS) == {"none", "median", "hyperband"}
    assert isinstance(create_pruner("none", epochs=3), optuna.pruners.NopPruner)
    median = create_pruner("median", epochs=3)
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert (median._n_startup_trials, median._n_warmup_steps) == (MEDIAN_STARTUP_TRIALS, 0)
    hyperband = create_pruner("hyperband", epochs=7)
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert (hyperband._min_resource, hyperband._max_resource, hyperband._reduction_factor) == (
        1, 7, HYPERBAND_REDUCTION_FACTOR)
    with pytest.raises(ConfigError, match="--pruner must be one of none, median, hyperband, but got 'asha'"):
        create_pruner("asha", epochs=3)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_pruned_trials_count_in_the_exact_budget(optimizer, pruner):
    study = optuna.create_study(direction="maximize", pruner=create_pruner(pruner, epochs=EPOCHS))
    runner = create_optimizer(optimizer, seed=0, budget=BUDGET, options={"pop_size": 5} if optimizer == "hho" else {})
    run_study(study=study, optimizer=runner, objective=SteppedObjective(), budget=BUDGET)
    states = [t.state for t in study.trials]
    assert count_finished(study) == len(states) == BUDGET
    assert states.count(TrialState.PRUNED) > 0, f"{pruner} pruned nothing for {optimizer}"
    for trial in study.trials:
        if trial.state == TrialState.PRUNED:
            assert max(trial.intermediate_values) < EPOCHS


def test_hho_gives_a_pruned_hawk_its_last_reported_value():
    trial = optuna.trial.create_trial(state=TrialState.PRUNED, intermediate_values={1: 0.3, 2: 0.45})
    assert _fitness(trial) == 0.45
    failed = optuna.trial.create_trial(state=TrialState.FAIL)
    assert _fitness(failed) == 0.0
