from __future__ import annotations

import importlib
import time

import keras
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from models import data as data_module
from models.data import load_mnist
from models.errors import ConfigError
from search.schedulers import CHECKPOINT_ATTR, EPOCHS_RUN_ATTR, Segment
from studies import launch
from studies.config import MAX_TRIALS
from studies.store.budget import StudyBudget
from studies.store.record import StudyRecord
from tests.helpers import tiny_space_file, write_mnist_dir

pytestmark = pytest.mark.slow

launch_api = importlib.import_module("studies.launch")  # the module; ``studies.launch`` is also the function


@pytest.fixture
def tiny(tmp_path):
    return str(tiny_space_file(tmp_path))


def _launch(db_url, tiny, **kwargs):
    args = dict(study_name="s", trials=2, optimizer="tpe", storage=db_url, epochs=1, data="mnist-5k",
                space=tiny, seed=0)
    args.update(kwargs)
    return launch(**args)


def test_launch_records_everything_and_resume_runs_only_what_is_missing(db_url, tiny):
    result = _launch(db_url, tiny)
    assert (result.finished, result.budget) == (2, 2)
    study = optuna.load_study(study_name="s", storage=db_url)
    record = StudyRecord.read(study)
    assert record.optimizer == "tpe" and record.seed == 0 and record.budget == 2
    assert record.train == {"epochs": 1, "batch_size": 128, "rungs": [1]}
    assert record.data == {"source": "mnist-5k", "sha256": load_mnist("mnist-5k").sha256, "train": 3600,
                           "val": 400, "test": 1000, "given": "mnist-5k"}
    assert record.optimizer_settings["n_startup_trials"] == 2
    assert set(record.space["dimensions"]) == {"units", "learning_rate"}
    assert record.versions["optuna"] == optuna.__version__ and record.versions["keras"] == keras.__version__
    first = [t.datetime_start for t in study.trials]

    result = launch(study_name="s", trials=3, storage=db_url, resume=True)  # options come from the study
    study = optuna.load_study(study_name="s", storage=db_url)
    assert result.finished == 3 and len(study.trials) == 3
    assert [t.datetime_start for t in study.trials[:2]] == first  # nothing re-run
    assert study.user_attrs["budget"] == 3
    assert all(t.state == TrialState.COMPLETE and len(t.intermediate_values) == 1 for t in study.trials)


def test_existing_study_without_resume_is_refused(db_url, tiny):
    _launch(db_url, tiny, trials=1)
    with pytest.raises(ConfigError, match="already exists: add --resume"):
        _launch(db_url, tiny, trials=1)


def test_resume_with_different_settings_is_refused(db_url, tiny):
    _launch(db_url, tiny, trials=1)
    with pytest.raises(ConfigError, match="train: stored .*'epochs': 1.*given .*'epochs': 2"):
        launch(study_name="s", trials=2, storage=db_url, resume=True, epochs=2)


def test_resume_of_missing_study(db_url, tiny):
    _launch(db_url, tiny, trials=1)
    with pytest.raises(ConfigError, match="no study 'other' to resume"):
        launch(study_name="other", trials=2, storage=db_url, resume=True)


def test_new_study_needs_trials(db_url, tiny):
    with pytest.raises(ConfigError, match="a new study needs a budget: --trials"):
        _launch(db_url, tiny, trials=None)


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 101, "a b"])
def test_bad_study_names(db_url, tiny, name):
    with pytest.raises(ConfigError, match="--study must be"):
        _launch(db_url, tiny, study_name=name)


@pytest.fixture
def no_training(monkeypatch):
    """Studies are created and resumed as usual, but no trial is trained (settings only)."""
    monkeypatch.setattr(launch_api, "run_study", lambda **kwargs: None)


def _record(db_url, name="s"):
    return StudyRecord.read(optuna.load_study(study_name=name, storage=db_url))


def test_raising_the_budget_on_resume_keeps_the_optimizer_settings_planned_for_the_first(db_url, tiny, no_training):
    _launch(db_url, tiny, trials=8)  # TPE plans 2 random start-up trials for 8
    assert _record(db_url).optimizer_settings["n_startup_trials"] == 2
    launch(study_name="s", trials=20, storage=db_url, resume=True)  # 20 alone would plan 5
    record = _record(db_url)
    assert (record.budget, record.initial_budget) == (20, 8)
    assert record.optimizer_settings["n_startup_trials"] == 2
    launch(study_name="s", trials=24, storage=db_url, resume=True)
    assert (_record(db_url).budget, _record(db_url).initial_budget) == (24, 8)


def test_a_resume_records_the_epoch_budget_and_timeout_it_gives(db_url, tiny, no_training):
    """Workers on other hosts and ``compare`` read the stored limits: a raised one must be there."""
    _launch(db_url, tiny, trials=None, epoch_budget=3, recycle_every=0)
    assert (_record(db_url).epoch_budget, _record(db_url).timeout) == (3, None)
    launch(study_name="s", storage=db_url, resume=True, epoch_budget=6, timeout=600, recycle_every=0)
    assert (_record(db_url).epoch_budget, _record(db_url).timeout) == (6, 600)
    launch(study_name="s", storage=db_url, resume=True, recycle_every=0)
    assert (_record(db_url).epoch_budget, _record(db_url).timeout) == (6, 600)
    assert _record(db_url).trial_cap is None
    assert _record(db_url).limits_text() == "6 training epochs, 600 s per launch"


def test_a_resume_may_lower_or_add_an_epoch_budget_without_replanning_the_optimizer(db_url, tiny, no_training):
    """The optimizer's settings are planned once, for the first limits; a resume that changes them is not refused."""
    _launch(db_url, tiny, trials=None, epoch_budget=300, recycle_every=0)  # TPE plans 10 start-up trials
    planned = _record(db_url).optimizer_settings
    assert planned["n_startup_trials"] == 10  # for 20 epochs it would plan 5
    launch(study_name="s", storage=db_url, resume=True, epoch_budget=20, recycle_every=0)
    assert (_record(db_url).epoch_budget, _record(db_url).optimizer_settings) == (20, planned)
    _launch(db_url, tiny, study_name="t", trials=300, recycle_every=0)
    launch(study_name="t", storage=db_url, resume=True, epoch_budget=20, recycle_every=0)
    assert _record(db_url, "t").epoch_budget == 20 and _record(db_url, "t").optimizer_settings["n_startup_trials"] == 10


def test_a_resume_past_the_trial_cap_with_promotions_left_still_runs_the_jobs_asked_for(db_url, tiny, monkeypatch):
    ran = []
    monkeypatch.setattr(launch_api, "run_study", lambda **kwargs: ran.append("this process"))
    monkeypatch.setattr(launch_api, "run_with_workers", lambda **kwargs: ran.append(f"{kwargs['jobs']} workers"))
    _launch(db_url, tiny, trials=3, epochs=None, rungs=(1, 3, 9), recycle_every=0)
    study = optuna.load_study(study_name="s", storage=db_url)
    for number, value in enumerate((0.5, 0.9, 0.7)):
        study.add_trial(create_trial(value=value, user_attrs={EPOCHS_RUN_ATTR: 1, CHECKPOINT_ATTR: f"ck{number}"}))
    promoted = Segment(rung=1, start=1, end=3, parent=1, root=1, resume_from="ck1")
    study.add_trial(create_trial(value=0.95, user_attrs={**promoted.attrs(), EPOCHS_RUN_ATTR: 2,
                                                         CHECKPOINT_ATTR: "ck3"}))
    # 4 finished trials for a cap of 3 configurations, and the best has yet to reach 9 epochs
    assert not StudyBudget.of(study, _record(db_url)).done()
    launch(study_name="s", storage=db_url, resume=True, jobs=2)
    assert ran == ["this process", "2 workers"]


def test_max_failures_is_recorded_and_a_resume_may_change_it(db_url, tiny, no_training):
    _launch(db_url, tiny, trials=2)
    assert _record(db_url).max_failures == launch_api.DEFAULT_MAX_FAILURES
    launch(study_name="s", trials=2, storage=db_url, resume=True, max_failures=9)
    assert _record(db_url).max_failures == 9
    launch(study_name="s", trials=2, storage=db_url, resume=True)
    assert _record(db_url).max_failures == 9


def test_data_is_recorded_by_the_name_given_and_its_digest_never_an_absolute_path(db_url, tiny, tmp_path,
                                                                                   monkeypatch, no_training):
    (tmp_path / "mnist").mkdir()
    write_mnist_dir(tmp_path / "mnist")
    monkeypatch.chdir(tmp_path)
    _launch(db_url, tiny, data="mnist")
    data = _record(db_url).data
    assert data == {"source": "idx", "sha256": load_mnist("mnist").sha256, "train": 180, "val": 20, "test": 50,
                    "given": "mnist"}
    assert str(tmp_path) not in repr(data)


def test_resume_finds_the_same_data_given_elsewhere_and_refuses_other_or_missing_data(
        db_url, tiny, tmp_path, monkeypatch, no_training):
    (tmp_path / "mnist").mkdir()
    write_mnist_dir(tmp_path / "mnist")
    monkeypatch.chdir(tmp_path)
    _launch(db_url, tiny, data="mnist")
    (tmp_path / "mnist").rename(tmp_path / "moved")
    with pytest.raises(ConfigError, match="given as 'mnist'.*cannot be read from here.*Pass --data"):
        launch(study_name="s", trials=2, storage=db_url, resume=True)
    launch(study_name="s", trials=2, storage=db_url, resume=True, data="moved")  # same digits: accepted
    (tmp_path / "mnist").mkdir()
    write_mnist_dir(tmp_path / "mnist", n_train=210)  # other digits where the study's data was
    data_module._load_cached.cache_clear()  # a process loads a source once; this one changed under it
    with pytest.raises(ConfigError, match="now holds data with sha256"):
        launch(study_name="s", trials=2, storage=db_url, resume=True)
    with pytest.raises(ConfigError, match="data: stored .*sha256"):
        launch(study_name="s", trials=2, storage=db_url, resume=True, data="mnist")


def test_timeout_starts_no_trial_after_the_deadline_and_a_resume_gets_it_again(db_url, tiny):
    started = time.time()
    _launch(db_url, tiny, trials=None, timeout=3.0, recycle_every=0)  # in this process: TensorFlow is loaded
    study = optuna.load_study(study_name="s", storage=db_url)
    record = StudyRecord.read(study)
    assert record.timeout == 3.0 and record.budget == MAX_TRIALS
    deadline = study.user_attrs["deadline"]
    assert started + 3.0 <= deadline
    first = study.trials
    # no trial started after the deadline, nor one expected to end after it (the screenings' median time)
    assert first and all(t.datetime_start.timestamp() < deadline for t in first)
    _launch(db_url, tiny, trials=None, resume=True, recycle_every=0)  # the recorded timeout, from now
    again = optuna.load_study(study_name="s", storage=db_url)
    assert len(again.trials) > len(first) and again.user_attrs["deadline"] > deadline


def test_a_study_made_before_rungs_resumes_with_one_rung(db_url, tiny):
    _launch(db_url, tiny, trials=2, epochs=2, rungs=(2,))
    study = optuna.load_study(study_name="s", storage=db_url)
    study.set_user_attr("train", {"epochs": 2, "batch_size": 128})  # as such studies recorded it
    study.set_user_attr("reduction_factor", None)
    result = _launch(db_url, tiny, trials=3, epochs=None, resume=True)
    again = optuna.load_study(study_name="s", storage=db_url)
    assert result.finished == 3 and [t.user_attrs["epochs_run"] for t in again.trials] == [2, 2, 2]
    assert "rung" not in again.trials[2].user_attrs  # no promotion: one rung
