"""Exporting a study's best configuration: everything needed to train that model again."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import optuna
import yaml

from models.data import check_source
from models.errors import ConfigError, check_whole_number, first_line
from search.objective import MAX_EPOCHS, training_seed
from search.schedulers import CHECKPOINT_ATTR, Rungs, Segment, final_trial
from studies.export.final_model import save_checkpoint_model
from studies.export.retrain import check_model_out, load_for_retrain
from studies.export.retrain import retrain as run_retrain
from studies.store.record import StudyRecord
from studies.store.storage import MASK, STORAGE_ENV_VAR, open_storage

_logger = logging.getLogger(__name__)

EXPORT_SUFFIXES = (".json", ".yaml", ".yml")


def best_config(study: optuna.Study) -> dict[str, Any]:
    """The best trial of ``study`` with the study's record: a self-contained config."""
    best = final_trial(study.get_trials(deepcopy=False))
    if best is None:
        raise ConfigError(f"study {study.study_name!r} has no COMPLETE trial to export yet")
    record = StudyRecord.read(study)
    rungs = record.rungs if record else Rungs((1,))
    config: dict[str, Any] = {
        "study": study.study_name,
        "trial": best.number,
        "validation_accuracy": best.value,
        # The final model's training: the top rung the trial reached, in epochs on the train split.
        "epochs": Segment.of(best, rungs).end,
        "rung": Segment.of(best, rungs).rung,
        "checkpoint": best.user_attrs.get(CHECKPOINT_ATTR),
        "params": dict(best.params),
        # The seed the trial trained with; retraining uses it too.
        "train_seed": training_seed(record.seed if record is not None else 0, best),
    }
    if record is not None:
        config.update(
            optimizer=record.optimizer,
            optimizer_settings=record.optimizer_settings,
            seed=record.seed,
            search_space=record.space,
            train=record.train,
            data=record.data,
            artifacts=record.artifacts,
            versions=record.versions,
        )
    return config


def export_best(
    *,
    study_name: str,
    storage: str | None = None,
    out: str | Path | None = None,
    retrain: bool = False,
    epochs: int | None = None,
    model_out: str | Path | None = None,
    data: str | None = None,
) -> dict[str, Any]:
    """Return the best config of ``study_name`` and, with ``out``, write it (JSON, or YAML for .yaml/.yml).

    The exported trial is the study's final model: the best of the highest rung reached
    (:func:`search.schedulers.final_trial`). With ``model_out`` and no ``retrain``, its
    checkpoint (trained on the train split to that rung) is scored once on the test split
    (``test_accuracy``) and saved as a ``.keras`` file. With ``retrain``, the configuration
    is trained again on train + validation for ``epochs`` (default: the study's top rung),
    scored once on the test split and, with ``model_out``, saved.

    Raises:
        ConfigError: no such storage or study, nothing finished, or an unusable option.
    """
    out_path = _check_out(out) if out is not None else None
    model_path = _check_model_options(retrain=retrain, epochs=epochs, model_out=model_out, data=data)
    store = open_storage(storage, must_exist=True)
    try:
        study = optuna.load_study(study_name=study_name, storage=store)
    except KeyError:
        names = optuna.get_all_study_names(store)
        raise ConfigError(
            f"there is no study {study_name!r} in this storage; it holds: {', '.join(names) or 'no study'}"
        ) from None
    config = best_config(study)
    if retrain:
        mnist = load_for_retrain(config, data=data)
        outcome = run_retrain(config, data=mnist, epochs=epochs, model_out=model_path)
        config = _with_test_accuracy(config, outcome)
    elif model_path is not None:
        outcome = save_checkpoint_model(config, data=load_for_retrain(config, data=data), model_out=model_path)
        config = _with_test_accuracy(config, outcome, key="final_model")
    if out_path is not None:
        write_config(config, out_path)
        _logger.info("Wrote the best configuration of %r to %s", study_name, out_path)
    return config


def winner_of(comparison: str | Path, *, storage: str | None = None) -> tuple[str, str]:
    """The study holding the best trial of a comparison report directory, and the storage to read.

    The storage is ``storage``, else ``$LSTM_TUNER_STORAGE``, else the one the report names.

    Raises:
        ConfigError: no readable ``summary.json`` in ``comparison``, or only a masked URL to use.
    """
    from studies.compare.report import SUMMARY_FILE

    path = Path(comparison) / SUMMARY_FILE
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        study, recorded = summary["best_overall"]["study"], summary["storage"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--compare {str(comparison)!r}: no usable {SUMMARY_FILE} ({first_line(exc)})") from None
    url = storage or os.environ.get(STORAGE_ENV_VAR) or recorded
    if MASK in url:
        raise ConfigError(
            f"the report names its storage with the password masked ({url}); pass --storage or set ${STORAGE_ENV_VAR}"
        )
    return study, url


def _with_test_accuracy(config: dict[str, Any], outcome: dict[str, Any], *, key: str = "retrain") -> dict[str, Any]:
    """``config`` with ``test_accuracy`` right after ``validation_accuracy``, and the details under ``key``."""
    details = dict(outcome)
    merged: dict[str, Any] = {}
    for name, value in config.items():
        merged[name] = value
        if name == "validation_accuracy":
            merged["test_accuracy"] = details.pop("test_accuracy")
    merged[key] = details
    return merged


def write_config(config: dict[str, Any], path: Path) -> None:
    if path.suffix.lower() == ".json":
        text = json.dumps(config, indent=2, sort_keys=False) + "\n"
    else:
        text = yaml.safe_dump(config, sort_keys=False)
    path.write_text(text, encoding="utf-8")


def _check_model_options(
    *, retrain: bool, epochs: int | None, model_out: str | Path | None, data: str | None
) -> Path | None:
    if not retrain:
        if epochs is not None:
            raise ConfigError("--epochs only applies with --retrain (the checkpoint's length is the top rung's)")
        if data is not None and model_out is None:
            raise ConfigError("--data only applies with --retrain or --model-out")
    if epochs is not None:
        check_whole_number("--epochs", epochs, low=1, high=MAX_EPOCHS)
    if data is not None:
        check_source(data)
    if model_out is None:
        return None
    return check_model_out(model_out)


def _check_out(out: str | Path) -> Path:
    path = Path(out)
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise ConfigError(f"--out must end in {', '.join(EXPORT_SUFFIXES)}, but got {str(path)!r}")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ConfigError(f"--out {str(path)!r} exists and is not a regular file; choose a new file name")
    if not path.parent.is_dir():
        raise ConfigError(f"--out {str(path)!r}: directory {str(path.parent)!r} does not exist")
    return path
