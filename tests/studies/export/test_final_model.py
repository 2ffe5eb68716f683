"""Export of a multi-fidelity study hands back the top rung's model."""

from __future__ import annotations

import keras
import optuna
import pytest

from models.data import load_mnist
from search.schedulers import Rungs, Segment
from studies import launch
from studies.export.best import export_best
from tests.helpers import tiny_space_file

pytestmark = pytest.mark.slow


def test_export_returns_the_top_rung_model_from_its_checkpoint(db_url, tmp_path):
    result = launch(study_name="s", trials=2, optimizer="random", storage=db_url, rungs=(1, 2), reduction_factor=2,
                    data="mnist-5k", space=str(tiny_space_file(tmp_path)), seed=0,
                    artifacts=str(tmp_path / "artifacts"))
    study = optuna.load_study(study_name="s", storage=db_url)
    assert study.user_attrs["train"]["rungs"] == [1, 2]
    rungs = Rungs((1, 2))
    assert [Segment.of(t, rungs).rung for t in study.trials] == [0, 0, 1]  # the better of two went on to 2 epochs
    assert (result.configurations, result.epochs, result.best_trial, result.best_epochs) == (2, 3, 2, 2)
    out = tmp_path / "final.keras"
    config = export_best(study_name="s", storage=db_url, model_out=out)
    assert (config["trial"], config["rung"], config["epochs"]) == (2, 1, 2)
    assert config["validation_accuracy"] == study.trials[2].value
    assert config["final_model"]["trained_on"] == "train" and config["final_model"]["epochs"] == 2
    test = load_mnist("mnist-5k").test
    _, accuracy = keras.models.load_model(out).evaluate(test.x, test.y, verbose=0)
    assert config["test_accuracy"] == pytest.approx(accuracy)
