"""The LSTM objective on a tiny real model (one layer of 4 units, 300 samples)."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from models.errors import ConfigError
from search.failures import DIVERGED, FAIL_KIND_ATTR, INTERRUPTED, NO_EPOCH, OUT_OF_MEMORY, WORKER_DIED, is_retried
from search.objective import PROPOSAL_ATTR, LstmObjective, TrainSettings, TrialFailed, training_seed, trial_seed
from search.optimizers.base import TRIAL_ERRORS
from search.space import SearchSpace
from tests.helpers import tiny_data

pytestmark = pytest.mark.slow

TINY = SearchSpace.from_dict({"dimensions": {
    "units": {"type": "int", "low": 4, "high": 6},
    "learning_rate": {"type": "float", "low": 5e-3, "high": 1e-2, "log": True},
}})


def _objective(data=None, epochs=2, seed=0):
    return LstmObjective(data=data or tiny_data(), space=TINY, settings=TrainSettings(epochs=epochs, batch_size=64),
                         seed=seed)


def test_reports_every_epoch_and_returns_the_last_validation_accuracy():
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(_objective(), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == [1, 2]
    assert trial.value == trial.intermediate_values[2]
    assert 0.0 <= trial.value <= 1.0
    assert trial.user_attrs["epochs_run"] == 2 and trial.user_attrs["train_seconds"] > 0


def test_same_seed_same_value():
    values = []
    for _ in range(2):
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
        study.optimize(_objective(epochs=1), n_trials=1)
        values.append(study.trials[0].value)
    assert values[0] == values[1]


def test_diverged_loss_fails_the_trial_and_the_study_goes_on():
    data = tiny_data()
    poisoned = dataclasses.replace(
        data, train=dataclasses.replace(data.train, x=np.full_like(data.train.x, np.nan))
    )
    study = optuna.create_study(direction="maximize")
    study.optimize(_objective(poisoned, epochs=3), n_trials=2, catch=TRIAL_ERRORS)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.FAIL]
    reason = study.trials[0].user_attrs["fail_reason"]
    assert reason == "training loss became nan in epoch 1"
    assert study.trials[0].user_attrs["epochs_run"] == 1
    assert [t.user_attrs[FAIL_KIND_ATTR] for t in study.trials] == [DIVERGED, DIVERGED]


def test_a_trial_failure_fails_only_its_trial_and_any_other_error_stops_the_study():
    def raising(error):
        def objective(trial):
            TINY.suggest(trial)
            raise error
        return objective

    study = optuna.create_study(direction="maximize")
    study.optimize(raising(TrialFailed("loss became nan")), n_trials=2, catch=TRIAL_ERRORS)  # as optimizers call it
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2
    with pytest.raises(ValueError, match="a bug"):  # a bug is not a trial's failure: it must not be hidden
        study.optimize(raising(ValueError("a bug")), n_trials=2, catch=TRIAL_ERRORS)
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 3


def test_trial_seeds_differ_across_runs_and_trials():
    seeds = {trial_seed(run, number) for run in range(5) for number in range(100)}
    assert len(seeds) == 500


@pytest.mark.parametrize("kwargs, flag", [({"epochs": 0}, "--epochs"), ({"batch_size": 10**6}, "--batch-size"),
                                          ({"epochs": 1.5}, "--epochs")])
def test_settings_validation(kwargs, flag):
    with pytest.raises(ConfigError, match=flag):
        TrainSettings(**kwargs)


class _AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return True


@pytest.mark.parametrize("epochs, state, epochs_run", [(2, TrialState.PRUNED, 1), (1, TrialState.COMPLETE, 1)])
def test_pruning_stops_after_an_epoch_but_never_after_the_last(epochs, state, epochs_run):
    study = optuna.create_study(direction="maximize", pruner=_AlwaysPrune())
    study.optimize(_objective(epochs=epochs), n_trials=1)
    trial = study.trials[0]
    assert trial.state == state and trial.user_attrs["epochs_run"] == epochs_run
    assert sorted(trial.intermediate_values) == [1]


def test_a_stop_request_at_a_batch_end_stops_training_and_fails_the_trial():
    # What happens when a signal's own KeyboardInterrupt was swallowed by TensorFlow: the
    # remembered request is seen at the next batch end (5 batches per epoch here).
    asked = []

    def stop_after_three_batches() -> bool:
        asked.append(1)
        return len(asked) >= 3

    objective = LstmObjective(data=tiny_data(), space=TINY, settings=TrainSettings(epochs=4, batch_size=64), seed=0,
                              stop_requested=stop_after_three_batches)
    study = optuna.create_study(direction="maximize")
    with pytest.raises(KeyboardInterrupt, match="stop requested during training"):
        study.optimize(objective, n_trials=3)
    (trial,) = study.trials
    assert trial.state == TrialState.FAIL
    assert trial.intermediate_values == {}
    assert trial.user_attrs["epochs_run"] == 0
    assert 3 <= len(asked) < 5


def test_a_stop_before_training_records_an_interrupt():
    objective = LstmObjective(data=tiny_data(), space=TINY, settings=TrainSettings(epochs=1, batch_size=64), seed=0,
                              stop_requested=lambda: True)
    study = optuna.create_study(direction="maximize")
    with pytest.raises(KeyboardInterrupt, match="stop requested before training"):
        study.optimize(objective, n_trials=1)
    (trial,) = study.trials
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs[FAIL_KIND_ATTR] == INTERRUPTED


def test_only_the_runs_failures_leave_a_configuration_owed_a_training():
    kinds = (INTERRUPTED, WORKER_DIED, None, DIVERGED, OUT_OF_MEMORY, NO_EPOCH)
    assert [is_retried(kind) for kind in kinds] == [True, True, True, False, False, False]


def test_the_training_seed_comes_from_the_proposal_when_one_is_recorded():
    study = optuna.create_study(direction="maximize")
    study.ask()
    trial = study.ask()  # number 1
    assert training_seed(3, trial) == trial_seed(3, 1)
    trial.set_user_attr(PROPOSAL_ATTR, 41)
    assert training_seed(3, trial) == trial_seed(3, 41)
    assert training_seed(3, study.trials[1]) == trial_seed(3, 41)  # a stored trial reads the same


def test_trials_of_one_proposal_train_alike_whatever_their_numbers():
    # As HHO's worker processes may claim them: the same proposal as trial 0 in one study
    # and as trial 1 in another must train with the same seed.
    objective = _objective(epochs=1)
    params = {"units": 5, "learning_rate": 7e-3}

    def as_proposal(trial):
        trial.set_user_attr(PROPOSAL_ATTR, 4)
        return objective(trial)

    values = []
    for claimed_before in (0, 1):
        study = optuna.create_study(direction="maximize")
        for _ in range(claimed_before):
            study.enqueue_trial({"units": 4, "learning_rate": 5e-3})
            study.optimize(objective, n_trials=1)
        study.enqueue_trial(params)
        study.optimize(as_proposal, n_trials=1)
        values.append(study.trials[-1].value)
    assert values[0] == values[1]
