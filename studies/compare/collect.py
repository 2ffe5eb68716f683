"""Reading the studies of a comparison back from the storage, and checking they compare.

Studies compare when they share everything that changes what a study can reach at a
fixed budget: the search space, the data (kind of source, content digest and split sizes,
not the path it was given as), the training settings
(epochs, rungs, batch size), the budget in trials, epochs and time, the reduction factor,
the pruner and the number of failures in a row that stops a run; and when each has spent
its budget. A difference is
named with the field and both values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import optuna

from models.errors import ConfigError
from search.optimizers.hho import CACHE_HITS_ATTR
from studies.store.budget import StudyBudget
from studies.store.record import StudyRecord, canonical, data_identity
from studies.store.trials import FINISHED_STATES

# Record fields every study of one comparison must share.
COMPARED_FIELDS = ("space", "data", "train", "budget", "pruner", "max_failures", "reduction_factor", "epoch_budget",
                   "timeout")
# How a refusal names a field whose record name says less than it should.
_FIELD_NAMES = {"budget": "trial cap"}


@dataclasses.dataclass(frozen=True)
class StudyRun:
    """One study of a comparison: its record and its finished trials, by trial number."""

    name: str
    record: StudyRecord
    trials: tuple[optuna.trial.FrozenTrial, ...]
    cache_hits: int
    # Whether the study spent its budget (see studies.store.budget.StudyBudget.done).
    finished: bool = True

    @property
    def optimizer(self) -> str:
        return self.record.optimizer

    @property
    def seed(self) -> int:
        return self.record.seed


def collect_runs(*, storage: optuna.storages.BaseStorage, names: Sequence[str]) -> list[StudyRun]:
    """Load the studies ``names``.

    Raises:
        ConfigError: a name that is not in the storage or a study this tool did not make.
    """
    existing = set(optuna.get_all_study_names(storage))
    missing = [n for n in names if n not in existing]
    if missing:
        raise ConfigError(
            f"no study {', '.join(map(repr, missing))} in this storage; it holds: "
            f"{', '.join(sorted(existing)) or 'no study'}"
        )
    return [_load(storage, name) for name in names]


def comparability_problems(runs: Sequence[StudyRun]) -> list[str]:
    """Why ``runs`` do not compare, one line each; empty when they do."""
    problems = []
    reference = runs[0]
    for run in runs[1:]:
        for field in COMPARED_FIELDS:
            mine, theirs = _compared(reference.record, field), _compared(run.record, field)
            if canonical(mine) != canonical(theirs):
                problems.append(f"{_FIELD_NAMES.get(field, field)}: {reference.name} has {mine!r}, "
                                f"{run.name} has {theirs!r}")
    for run in runs:
        if not run.finished:
            problems.append(f"{run.name} has not spent its budget yet ({len(run.trials)} finished trials)")
    return problems


def _compared(record: StudyRecord, field: str) -> Any:
    """The value of ``field`` that must match: the data's identity, the trial cap (None: no cap)."""
    if field == "budget":
        return record.trial_cap
    value = getattr(record, field)
    return data_identity(value) if field == "data" else value


def check_comparable(runs: Sequence[StudyRun], *, force: bool) -> list[str]:
    """The comparability problems of ``runs``, refused unless ``force``.

    Raises:
        ConfigError: problems found and not ``force``.
    """
    problems = comparability_problems(runs)
    if problems and not force:
        raise ConfigError(
            "these studies do not compare: " + "; ".join(problems)
            + ". Compare studies made with the same settings, finish unfinished ones (launch --resume), "
            "or pass --force to report anyway."
        )
    return problems


def _load(storage: optuna.storages.BaseStorage, name: str) -> StudyRun:
    study = optuna.load_study(study_name=name, storage=storage)
    record = StudyRecord.read(study)
    if record is None:
        raise ConfigError(f"study {name!r} was not made by this tool, so its settings are unknown")
    trials = study.get_trials(deepcopy=False, states=FINISHED_STATES)
    hits: Any = study.user_attrs.get(CACHE_HITS_ATTR, 0)
    return StudyRun(
        name=name,
        record=record,
        trials=tuple(sorted(trials, key=lambda t: t.number)),
        cache_hits=int(hits) if isinstance(hits, int) else 0,
        finished=StudyBudget.of(study, record).done(),
    )
