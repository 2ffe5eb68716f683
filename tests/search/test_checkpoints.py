"""Promotion on a tiny real LSTM: a promoted trial continues from its checkpoint."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

from search.checkpoints import CheckpointStore
from search.failures import FAIL_KIND_ATTR, NO_CHECKPOINT
from search.objective import LstmObjective, TrainSettings
from search.optimizers.base import TRIAL_ERRORS
from search.schedulers import CHECKPOINT_ATTR, Rungs, Segment
from search.space import SearchSpace
from tests.helpers import tiny_data

pytestmark = pytest.mark.slow

TINY = SearchSpace.from_dict({"dimensions": {
    "units": {"type": "int", "low": 4, "high": 6},
    "learning_rate": {"type": "float", "low": 5e-3, "high": 1e-2, "log": True},
}})
BATCH = 64
RUNGS = Rungs((1, 3))


def _objective(tmp_path):
    settings = TrainSettings(epochs=RUNGS.top, batch_size=BATCH, rungs=RUNGS.epochs)
    return LstmObjective(data=tiny_data(), space=TINY, settings=settings, seed=0,
                         checkpoints=CheckpointStore(directory=tmp_path / "artifacts"))


def test_a_promoted_trial_trains_only_the_extra_epochs_from_its_checkpoint(tmp_path):
    steps = math.ceil(len(tiny_data().train) / BATCH)
    objective = _objective(tmp_path)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=1)
    screened = study.trials[0]
    assert screened.user_attrs["batches_run"] == steps and screened.user_attrs["epochs_run"] == 1
    promotion = Segment.promotion(screened, RUNGS)
    study.enqueue_trial(dict(screened.params), user_attrs=promotion.attrs())
    study.optimize(objective, n_trials=1)
    promoted = study.trials[1]
    assert promoted.state == TrialState.COMPLETE
    assert promoted.user_attrs["batches_run"] == 2 * steps and promoted.user_attrs["epochs_run"] == 2
    assert sorted(promoted.intermediate_values) == [2, 3]  # numbered from the configuration's start
    model = CheckpointStore(directory=tmp_path / "artifacts").load(promoted.user_attrs[CHECKPOINT_ATTR])
    assert int(model.optimizer.iterations.numpy()) == 3 * steps  # the schedule's step went on from epoch 1


def test_a_checkpoint_that_cannot_be_read_fails_the_promotion_for_good(tmp_path):
    objective = _objective(tmp_path)
    study = optuna.create_study(direction="maximize")
    lost = Segment(rung=1, start=1, end=3, parent=0, root=0, resume_from="no-such-artifact")
    study.enqueue_trial({"units": 5, "learning_rate": 6e-3}, user_attrs=lost.attrs())
    study.optimize(objective, n_trials=1, catch=TRIAL_ERRORS)
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL and trial.user_attrs[FAIL_KIND_ATTR] == NO_CHECKPOINT
    assert "no-such-artifact" in trial.user_attrs["fail_reason"]
