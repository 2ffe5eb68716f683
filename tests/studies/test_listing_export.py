from __future__ import annotations

import json

import optuna
import pytest
import yaml

from models.errors import ConfigError
from search.optimizers import create_optimizer
from search.space import DEFAULT_SPACE
from studies import export_best, list_studies, run_study
from studies.listing import format_table
from studies.record import StudyRecord
from tests.helpers import AnalyticObjective


@pytest.fixture
def store(db_url):
    """Two studies of analytic trials, recorded as the launcher records them."""
    for name, optimizer in (("a-tpe", "tpe"), ("b-hho", "hho")):
        study = optuna.create_study(study_name=name, storage=db_url, direction="maximize")
        opt = create_optimizer(optimizer, seed=0, budget=8, options={"pop_size": 5} if optimizer == "hho" else {})
        StudyRecord(optimizer=optimizer, optimizer_settings=opt.settings(), seed=0, budget=10,
                    space=DEFAULT_SPACE.to_dict(), train={"epochs": 1, "batch_size": 128},
                    data={"source": "mnist-5k"}).write(study)
        run_study(study=study, optimizer=opt, objective=AnalyticObjective(), budget=8)
    return db_url


def test_list(store):
    rows = list_studies(storage=store)
    assert [(r.name, r.optimizer, r.finished, r.budget, r.complete) for r in rows] == [
        ("a-tpe", "tpe", 8, 10, 8), ("b-hho", "hho", 8, 10, 8)]
    best = optuna.load_study(study_name="a-tpe", storage=store).best_value
    assert rows[0].best_value == best
    table = format_table(rows)
    assert "8/10" in table and f"{best:.4f}" in table


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_export_reproduces_the_best_trial(store, tmp_path, suffix):
    out = tmp_path / f"best{suffix}"
    export_best(study_name="b-hho", storage=store, out=out)
    config = json.loads(out.read_text()) if suffix == ".json" else yaml.safe_load(out.read_text())
    best = optuna.load_study(study_name="b-hho", storage=store).best_trial
    assert config["params"] == best.params and config["validation_accuracy"] == best.value and config["trial"] == best.number
    assert config["optimizer"] == "hho" and config["search_space"] == DEFAULT_SPACE.to_dict()
    assert config["train"] == {"epochs": 1, "batch_size": 128} and config["data"] == {"source": "mnist-5k"}


def test_export_of_missing_study_names_the_existing_ones(store):
    with pytest.raises(ConfigError, match="no study 'zzz' in this storage; it holds: a-tpe, b-hho"):
        export_best(study_name="zzz", storage=store)


def test_list_of_missing_storage(tmp_path):
    with pytest.raises(ConfigError, match="no storage at"):
        list_studies(storage=f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()


def test_export_out_must_be_json_or_yaml(store, tmp_path):
    with pytest.raises(ConfigError, match="--out must end in .json, .yaml, .yml"):
        export_best(study_name="a-tpe", storage=store, out=tmp_path / "x.txt")
