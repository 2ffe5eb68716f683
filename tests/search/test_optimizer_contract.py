"""Every optimizer in the registry passes the same checks on a cheap analytic objective."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from search.optimizers import OPTIMIZERS, create_optimizer, hho
from search.schedulers import (
    CHECKPOINT_ATTR,
    EPOCHS_RUN_ATTR,
    Rungs,
    Segment,
    SuccessiveHalving,
    final_trial,
    screening_trials,
)
from search.space import SearchSpace
from studies.launch import run_study
from studies.running.progress import TooManyFailures
from studies.store.trials import count_finished
from tests.helpers import AnalyticObjective, SegmentedObjective

MIXED_SPACE = SearchSpace.from_dict(
    {"dimensions": {
        "num_layers": {"type": "int", "low": 1, "high": 3},
        "units": {"type": "int", "low": 16, "high": 256, "log": True},
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "batch_size": {"type": "categorical", "choices": [32, 64, 128]},
    }}
)
BUDGET = 14


def _options(name):
    return {"pop_size": 5} if name == "hho" else {}


def _study(db_url, name="s"):
    return optuna.create_study(study_name=name, storage=db_url, direction="maximize",
                               pruner=optuna.pruners.NopPruner())


def _run(name, study, *, seed=0, budget=BUDGET, objective=None, max_failures=5):
    objective = objective or AnalyticObjective(MIXED_SPACE)
    optimizer = create_optimizer(name, seed=seed, budget=budget, options=_options(name))
    run_study(study=study, optimizer=optimizer, objective=objective, budget=budget, max_failures=max_failures)
    return objective


@pytest.fixture(params=sorted(OPTIMIZERS))
def name(request):
    return request.param


def test_exactly_the_budget_of_finished_trials(name, db_url):
    study = _study(db_url)
    _run(name, study)
    reloaded = optuna.load_study(study_name="s", storage=db_url)
    states = [t.state for t in reloaded.trials]
    assert states == [TrialState.COMPLETE] * BUDGET


def test_params_inside_bounds_with_declared_types(name, db_url):
    study = _study(db_url)
    _run(name, study)
    for trial in optuna.load_study(study_name="s", storage=db_url).trials:
        assert MIXED_SPACE.contains(trial.params), trial.params


def test_same_seed_same_params(name, tmp_path):
    runs = []
    for i in range(2):
        study = _study(f"sqlite:///{tmp_path / f'{i}.db'}")
        _run(name, study, seed=3)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]
    other = _study(f"sqlite:///{tmp_path / 'other.db'}")
    _run(name, other, seed=4)
    assert [t.params for t in other.trials] != runs[0]


def test_resume_reaches_the_total(name, db_url):
    study = _study(db_url)
    _run(name, study, budget=6)
    assert count_finished(study) == 6
    resumed = optuna.load_study(study_name="s", storage=db_url)
    _run(name, resumed, budget=BUDGET)
    assert count_finished(optuna.load_study(study_name="s", storage=db_url)) == BUDGET


def test_failed_trials_are_recorded_and_the_study_goes_on(name, db_url):
    objective = AnalyticObjective(MIXED_SPACE, fail_when=lambda p: p["batch_size"] == 32)
    study = _study(db_url)
    _run(name, study, objective=objective, max_failures=BUDGET + 1)
    trials = study.trials
    assert len(trials) == BUDGET
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert all(t.params["batch_size"] == 32 for t in failed)
    assert all(t.user_attrs["fail_reason"] == "injected failure" for t in failed)
    assert any(t.state == TrialState.COMPLETE for t in trials)


def test_consecutive_failures_stop_the_run(name, db_url):
    objective = AnalyticObjective(MIXED_SPACE, fail_when=lambda p: True)
    study = _study(db_url)
    with pytest.raises(TooManyFailures, match="after 3 consecutive failed trials.*injected failure"):
        _run(name, study, objective=objective, max_failures=3)
    # Proposals queued for workers (HHO's population) stay queued for a resume to train.
    states = [t.state for t in study.trials if t.state != TrialState.WAITING]
    assert states == [TrialState.FAIL] * 3
    assert len(study.trials) == (5 if name == "hho" else 3)


RUNGS = Rungs((1, 3, 9))


def _run_halving(name, study, *, trials, epochs, limit=None, seed=0):
    """Successive halving over RUNGS on the segmented analytic objective (its values drift
    by trial, so a median pruner in ``study`` prunes some segments)."""
    objective = SegmentedObjective(RUNGS, MIXED_SPACE)
    optimizer = create_optimizer(name, seed=seed, budget=trials, options=_options(name))
    run_study(study=study, optimizer=optimizer, objective=objective, budget=trials, limit=limit,
              scheduler=SuccessiveHalving(rungs=RUNGS, reduction_factor=3), epoch_budget=epochs)
    return objective


@pytest.mark.parametrize(("trials", "epochs", "pruned"), [(12, 1000, False), (100, 40, False), (100, 60, True)])
def test_successive_halving_keeps_the_budget_in_trials_and_epochs_across_a_resume(name, db_url, trials, epochs,
                                                                                  pruned):
    study = _study(db_url)
    if pruned:
        study.pruner = optuna.pruners.ThresholdPruner(lower=4.6)  # prunes analytic values below 0.6 after epoch 4
    first = _run_halving(name, study, trials=trials, epochs=epochs, limit=5)
    resumed = optuna.load_study(study_name="s", storage=db_url, pruner=study.pruner)
    second = _run_halving(name, resumed, trials=trials, epochs=epochs, seed=1)
    done = optuna.load_study(study_name="s", storage=db_url).trials
    states = {t.state for t in done}
    assert states == ({TrialState.COMPLETE, TrialState.PRUNED} if pruned else {TrialState.COMPLETE})
    spent = sum(t.user_attrs[EPOCHS_RUN_ATTR] for t in done)
    assert spent == first.epochs_trained + second.epochs_trained
    configurations = len(screening_trials(done))
    assert spent <= epochs and configurations <= trials
    # it stopped screening only at a limit: no configuration left, or a new one could no longer reach the top rung
    assert configurations == trials or spent + RUNGS.top > epochs
    final = final_trial(done)
    assert Segment.of(final, RUNGS).end == RUNGS.top or pruned
    # every promotion continued its parent's configuration from the parent's end
    by_number = {t.number: t for t in done}
    for trial in done:
        segment = Segment.of(trial, RUNGS)
        if segment.rung:
            parent = by_number[segment.parent]
            assert parent.params == trial.params and Segment.of(parent, RUNGS).end == segment.start
            assert segment.resume_from == parent.user_attrs[CHECKPOINT_ATTR]


def test_optimizers_learn_from_the_screening_rung_only(name, db_url, monkeypatch):
    """The values each optimizer learns from: HHO's fitness cache, the trials a sampler is shown."""
    seen = []
    if name == "hho":
        told = hho._Flock.tell

        def spy_tell(self, trial):
            told(self, trial)
            seen.extend(self._cache.values())
        monkeypatch.setattr(hho._Flock, "tell", spy_tell)
    else:
        sampler = type(create_optimizer(name, seed=0, budget=1).make_sampler())
        shown = sampler.sample_relative

        def spy_relative(self, study, trial, search_space):
            seen.extend(t.value for t in study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
            return shown(self, study, trial, search_space)
        monkeypatch.setattr(sampler, "sample_relative", spy_relative)
    study = _study(db_url)
    _run_halving(name, study, trials=14, epochs=1000)
    assert any(Segment.of(t, RUNGS).rung > 0 for t in study.trials)  # there were later rungs to hide
    assert seen and all(1.0 <= value < 2.0 for value in seen)  # values measured after epoch 1 only
