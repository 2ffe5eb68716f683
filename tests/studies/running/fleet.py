"""Worker and leader processes for the many-hosts tests: each child process runs the
product's own worker (or leader) loop on a study, with a cheap analytic objective and a
temporary directory of its own, as a separate host would have."""

from __future__ import annotations

import os
import tempfile
import time

import optuna

from search.optimizers import create_optimizer
from search.space import DEFAULT_SPACE
from studies.config import StudySetup, recorded_optimizer, worker_seed
from studies.running.leader import Leader
from studies.running.worker import serve_setup
from studies.store.budget import StudyBudget, lock_of
from studies.store.record import StudyRecord
from studies.store.storage import open_storage
from tests.helpers import AnalyticObjective

# Seconds each stub trial takes: long enough for workers to overlap.
TRIAL_S = 0.05


class SlowAnalyticObjective(AnalyticObjective):
    def __init__(self, seconds: float = TRIAL_S) -> None:
        super().__init__(DEFAULT_SPACE)
        self._seconds = seconds

    def __call__(self, trial: optuna.Trial) -> float:
        value = super().__call__(trial)
        time.sleep(self._seconds)
        return value


def create_study(url: str, name: str, *, optimizer: str, budget: int) -> None:
    """A study as `launch` records it, in the store at ``url``."""
    study = optuna.create_study(study_name=name, storage=open_storage(url, must_exist=False), direction="maximize",
                                pruner=optuna.pruners.NopPruner())
    options = {"pop_size": 5} if optimizer == "hho" else {}
    settings = create_optimizer(optimizer, seed=0, budget=budget, options=options).settings()
    StudyRecord(optimizer=optimizer, optimizer_settings=settings, seed=0, budget=budget, initial_budget=budget,
                space=DEFAULT_SPACE.to_dict(), train={"epochs": 1, "batch_size": 128}, data={"source": "stub"},
                pruner="none", max_failures=5).write(study)


def _setup(url: str, name: str, worker: int, seconds: float) -> StudySetup:
    study = optuna.load_study(study_name=name, storage=open_storage(url, must_exist=True))
    record = StudyRecord.read(study)
    assert record is not None
    base = recorded_optimizer(record)
    optimizer = create_optimizer(record.optimizer, seed=worker_seed(record.seed, worker), budget=record.budget,
                                 options={k: v for k, v in record.optimizer_settings.items() if k == "pop_size"})
    assert optimizer.proposes_in_workers == base.proposes_in_workers
    return StudySetup(study=study, record=record, objective=SlowAnalyticObjective(seconds), optimizer=optimizer,
                      space=DEFAULT_SPACE)


def work(url: str, name: str, worker: int, tmpdir: str, start: object, seconds: float = TRIAL_S) -> None:
    """A worker 'host': its own temporary directory, then the product's worker loop."""
    os.environ["TMPDIR"] = tmpdir
    tempfile.tempdir = None
    setup = _setup(url, name, worker, seconds)
    start.wait()  # type: ignore[attr-defined]
    serve_setup(setup)


def lead(url: str, name: str) -> None:
    """The leader 'host' of an HHO study: queue its proposals until the study holds its budget."""
    study = optuna.load_study(study_name=name, storage=open_storage(url, must_exist=True))
    record = StudyRecord.read(study)
    assert record is not None
    keeper = StudyBudget(study=study, budget=record.budget, lock=lock_of(study))
    leader = Leader(budget=keeper, optimizer=recorded_optimizer(record), space=DEFAULT_SPACE)
    try:
        while keeper.counts().finished < record.budget:
            leader.step()
            time.sleep(TRIAL_S / 5)
    finally:
        leader.close()
