"""Exporting a study's best configuration: everything needed to train that model again."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import optuna
import yaml

from models.errors import ConfigError
from studies.record import StudyRecord
from studies.storage import open_storage
from studies.trials import best_finite

_logger = logging.getLogger(__name__)

EXPORT_SUFFIXES = (".json", ".yaml", ".yml")


def best_config(study: optuna.Study) -> dict[str, Any]:
    """The best trial of ``study`` with the study's record: a self-contained config."""
    best = best_finite(study.get_trials(deepcopy=False))
    if best is None:
        raise ConfigError(f"study {study.study_name!r} has no COMPLETE trial to export yet")
    record = StudyRecord.read(study)
    config: dict[str, Any] = {
        "study": study.study_name,
        "trial": best.number,
        "value": best.value,
        "metric": "validation accuracy",
        "params": dict(best.params),
    }
    if record is not None:
        config.update(
            optimizer=record.optimizer,
            optimizer_settings=record.optimizer_settings,
            seed=record.seed,
            search_space=record.space,
            train=record.train,
            data=record.data,
            versions=record.versions,
        )
    return config


def export_best(*, study_name: str, storage: str | None = None, out: str | Path | None = None) -> dict[str, Any]:
    """Return the best config of ``study_name`` and, with ``out``, write it (JSON, or YAML for .yaml/.yml).

    Raises:
        ConfigError: no such storage or study, nothing finished, or an unusable ``out``.
    """
    out_path = _check_out(out) if out is not None else None
    store = open_storage(storage, must_exist=True)
    try:
        study = optuna.load_study(study_name=study_name, storage=store)
    except KeyError:
        names = optuna.get_all_study_names(store)
        raise ConfigError(
            f"there is no study {study_name!r} in this storage; it holds: {', '.join(names) or 'no study'}"
        ) from None
    config = best_config(study)
    if out_path is not None:
        write_config(config, out_path)
        _logger.info("Wrote the best configuration of %r to %s", study_name, out_path)
    return config


def write_config(config: dict[str, Any], path: Path) -> None:
    if path.suffix.lower() == ".json":
        text = json.dumps(config, indent=2, sort_keys=False) + "\n"
    else:
        text = yaml.safe_dump(config, sort_keys=False)
    path.write_text(text, encoding="utf-8")


def _check_out(out: str | Path) -> Path:
    path = Path(out)
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise ConfigError(f"--out must end in {', '.join(EXPORT_SUFFIXES)}, but got {str(path)!r}")
    if not path.parent.is_dir():
        raise ConfigError(f"--out {str(path)!r}: directory {str(path.parent)!r} does not exist")
    return path
