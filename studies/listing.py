"""Listing the studies of a storage."""

from __future__ import annotations

import dataclasses

import optuna
from optuna.trial import TrialState

from search.schedulers import epochs_counted, final_trial, screening_trials
from studies.store.record import StudyRecord
from studies.store.storage import open_storage
from studies.store.trials import FINISHED_STATES


@dataclasses.dataclass(frozen=True)
class StudySummary:
    name: str
    optimizer: str
    finished: int
    # Configurations screened, running or queued (what the cap counts), and the cap (None: no cap, or not known).
    configurations: int
    trial_cap: int | None
    # Training epochs the trials trained or, queued and running, may train; and their budget.
    epochs: int | None
    epoch_budget: int | None
    complete: int
    pruned: int
    failed: int
    running: int
    best_value: float | None


def list_studies(*, storage: str | None = None) -> list[StudySummary]:
    """Every study in ``storage``, by name. Studies not made by this tool show optimizer '?'."""
    store = open_storage(storage, must_exist=True)
    rows = []
    for name in sorted(optuna.get_all_study_names(store)):
        study = optuna.load_study(study_name=name, storage=store)
        rows.append(summarize(study))
    return rows


def summarize(study: optuna.Study) -> StudySummary:
    trials = study.get_trials(deepcopy=False)
    counts = {state: sum(t.state == state for t in trials) for state in TrialState}
    record = StudyRecord.read(study)
    best = final_trial(trials)
    rungs = record.rungs if record else None
    return StudySummary(
        name=study.study_name,
        optimizer=record.optimizer if record else "?",
        finished=sum(counts[s] for s in FINISHED_STATES),
        configurations=len(screening_trials(trials)),
        trial_cap=record.trial_cap if record else None,
        epochs=sum(epochs_counted(t, rungs) for t in trials) if rungs else None,
        epoch_budget=record.epoch_budget if record else None,
        complete=counts[TrialState.COMPLETE],
        pruned=counts[TrialState.PRUNED],
        failed=counts[TrialState.FAIL],
        running=counts[TrialState.RUNNING],
        best_value=best.value if best else None,
    )


def format_table(rows: list[StudySummary]) -> str:
    """A plain-text table of ``rows`` for the terminal."""
    header = ("study", "optimizer", "configurations", "epochs", "trials", "complete", "pruned", "failed", "running",
              "best")
    lines = [header] + [
        (
            r.name, r.optimizer, _of(r.configurations, r.trial_cap),
            "?" if r.epochs is None else _of(r.epochs, r.epoch_budget),
            str(r.finished), str(r.complete), str(r.pruned), str(r.failed), str(r.running),
            f"{r.best_value:.4f}" if r.best_value is not None else "-",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def _of(spent: int, limit: int | None) -> str:
    return str(spent) if limit is None else f"{spent}/{limit}"
