from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from models.errors import ConfigError
from studies import launch
from studies.record import StudyRecord
from tests.helpers import tiny_space_file

pytestmark = pytest.mark.slow


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
    assert record.train == {"epochs": 1, "batch_size": 128}
    assert record.data == {"source": "mnist-5k", "train": 3600, "val": 400, "test": 1000, "location": "mnist-5k"}
    assert record.optimizer_settings["n_startup_trials"] == 2
    assert set(record.space["dimensions"]) == {"units", "learning_rate"}
    assert "optuna" in record.versions and "keras" in record.versions
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
    with pytest.raises(ConfigError, match="--trials is required"):
        _launch(db_url, tiny, trials=None)


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 101, "a b"])
def test_bad_study_names(db_url, tiny, name):
    with pytest.raises(ConfigError, match="--study must be"):
        _launch(db_url, tiny, study_name=name)
