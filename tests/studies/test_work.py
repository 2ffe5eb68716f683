from __future__ import annotations

import importlib

import optuna
import pytest

from models.errors import ConfigError
from studies.store.storage import open_storage
from studies.work import work
from tests.studies.running import fleet

work_module = importlib.import_module("studies.work")


def test_a_sqlite_study_made_on_another_host_is_refused(db_url):
    fleet.create_study(db_url, "s", optimizer="tpe", budget=2)
    study_storage = open_storage(db_url, must_exist=True)
    study_id = study_storage.get_study_id_from_name("s")
    study_storage.set_study_user_attr(study_id, "created_on", "another-host")
    with pytest.raises(ConfigError, match="created on host 'another-host'.*PostgreSQL"):
        work(storage=db_url, study_name="s")


def test_a_missing_study_is_waited_for_then_refused(db_url, monkeypatch):
    fleet.create_study(db_url, "other", optimizer="tpe", budget=2)
    monkeypatch.setattr(work_module, "STUDY_WAIT_S", 0.2)
    monkeypatch.setattr(work_module, "STUDY_POLL_S", 0.05)
    with pytest.raises(ConfigError, match=r"no study 'missing' .*waited 0.2 s.*launch"):
        work(storage=db_url, study_name="missing")


def test_a_study_at_its_budget_has_no_work(db_url):
    fleet.create_study(db_url, "full", optimizer="tpe", budget=1)
    study = optuna.load_study(study_name="full", storage=db_url)
    study.add_trial(optuna.trial.create_trial(value=0.5))
    assert work(storage=db_url).studies == ()
