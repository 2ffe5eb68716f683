from __future__ import annotations

import json

import optuna
import pytest
import yaml

from models.data import load_mnist
from models.errors import ConfigError
from search.objective import trial_seed
from search.optimizers import create_optimizer
from search.schedulers.segments import EPOCHS_RUN_ATTR
from search.space import DEFAULT_SPACE
from studies import export_best, list_studies, run_study
from studies.export import best_config
from studies.export.retrain import load_for_retrain
from studies.listing import format_table
from studies.store.record import MAX_TRIALS, StudyRecord
from tests.helpers import AnalyticObjective, write_mnist_dir


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
    assert [(r.name, r.optimizer, r.finished, r.configurations, r.trial_cap, r.complete) for r in rows] == [
        ("a-tpe", "tpe", 8, 8, 10, 8), ("b-hho", "hho", 8, 8, 10, 8)]
    best = optuna.load_study(study_name="a-tpe", storage=store).best_value
    assert rows[0].best_value == best
    table = format_table(rows)
    assert table.splitlines()[1].split() == ["a-tpe", "tpe", "8/10", str(rows[0].epochs), "8", "8", "0", "0", "0",
                                             f"{best:.4f}"]


def test_list_shows_an_epoch_budget_and_no_made_up_trial_cap(db_url):
    """A study bounded by epochs only records MAX_TRIALS as its budget: the table must not show it."""
    study = optuna.create_study(study_name="e", storage=db_url, direction="maximize")
    StudyRecord(optimizer="random", optimizer_settings={}, seed=0, budget=MAX_TRIALS, space=DEFAULT_SPACE.to_dict(),
                train={"epochs": 2, "batch_size": 128, "rungs": [2]}, data={"source": "mnist-5k"},
                epoch_budget=6).write(study)
    for value in (0.5, 0.6):
        study.add_trial(optuna.trial.create_trial(value=value, params={}, distributions={},
                                                  user_attrs={EPOCHS_RUN_ATTR: 2}))
    (row,) = list_studies(storage=db_url)
    assert (row.configurations, row.trial_cap, row.epochs, row.epoch_budget) == (2, None, 4, 6)
    assert format_table([row]).splitlines()[1].split()[:5] == ["e", "random", "2", "4/6", "2"]
    assert str(MAX_TRIALS) not in format_table([row])


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_export_reproduces_the_best_trial(store, tmp_path, suffix):
    out = tmp_path / f"best{suffix}"
    export_best(study_name="b-hho", storage=store, out=out)
    config = json.loads(out.read_text()) if suffix == ".json" else yaml.safe_load(out.read_text())
    best = optuna.load_study(study_name="b-hho", storage=store).best_trial
    assert (config["params"], config["validation_accuracy"], config["trial"]) == (best.params, best.value, best.number)
    assert config["optimizer"] == "hho" and config["search_space"] == DEFAULT_SPACE.to_dict()
    assert config["train"] == {"epochs": 1, "batch_size": 128, "rungs": [1]}
    assert config["data"] == {"source": "mnist-5k"}


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


def test_retraining_reads_the_study_data_where_it_was_given_and_refuses_other_digits(tmp_path, monkeypatch):
    for name, n_train in (("mnist", 200), ("copy", 200), ("other", 210)):
        (tmp_path / name).mkdir()
        write_mnist_dir(tmp_path / name, n_train=n_train, compress=name != "copy")
    monkeypatch.chdir(tmp_path)
    config = {"study": "s", "data": {**load_mnist("mnist").describe(), "given": "mnist"}}
    assert load_for_retrain(config, data=None).sha256 == config["data"]["sha256"]
    assert load_for_retrain(config, data="copy").sha256 == config["data"]["sha256"]  # same digits, raw files
    with pytest.raises(ConfigError, match="'other' is .*sha256.*pass --data with the data the study used"):
        load_for_retrain(config, data="other")


def test_the_export_names_the_seed_the_trial_trained_with():
    study = optuna.create_study(direction="maximize")
    dist = optuna.distributions.FloatDistribution(0.0, 1.0)
    study.add_trial(optuna.trial.create_trial(params={"x": 0.5}, distributions={"x": dist}, value=0.9,
                                              user_attrs={"proposal": 7}))  # trial 0, HHO's proposal 7
    study.add_trial(optuna.trial.create_trial(params={"x": 0.2}, distributions={"x": dist}, value=0.1))
    assert best_config(study)["train_seed"] == trial_seed(0, 7) != trial_seed(0, 0)
