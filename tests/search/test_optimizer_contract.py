"""Every optimizer in the registry passes the same checks on a cheap analytic objective."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from search.optimizers import OPTIMIZERS, create_optimizer
from search.space import SearchSpace
from studies.launch import run_study
from studies.running.progress import TooManyFailures
from studies.store.trials import count_finished
from tests.helpers import AnalyticObjective

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
