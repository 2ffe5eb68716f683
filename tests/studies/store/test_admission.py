"""The budget gate: one slot per trial, the last slot to one worker only."""

from __future__ import annotations

import threading
import time

import optuna
from optuna.trial import TrialState

from studies.store.admission import BudgetGate, lock_path


def _study(db_url, finished):
    study = optuna.create_study(study_name="g", storage=db_url, direction="maximize")
    for _ in range(finished):
        study.add_trial(optuna.trial.create_trial(value=0.5))
    return study


def test_claim_admits_below_the_budget_and_refuses_at_it(db_url):
    study = _study(db_url, finished=2)
    gate = BudgetGate(study=study, budget=3, url=db_url)
    assert gate.claim()
    gate.release()
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    assert not gate.claim()


def test_the_last_slot_goes_to_one_worker_only(db_url):
    study = _study(db_url, finished=2)
    first = BudgetGate(study=study, budget=3, url=db_url)
    second = BudgetGate(study=optuna.load_study(study_name="g", storage=db_url), budget=3, url=db_url)
    assert first.claim()
    answer = []
    waiter = threading.Thread(target=lambda: answer.append(second.claim()))
    waiter.start()
    time.sleep(0.5)
    assert answer == [], "the second worker got past the lock while the first held it"
    study.ask()  # the first worker's trial is now stored as RUNNING ...
    first.release()  # ... and the objective releases the gate
    waiter.join(timeout=10)
    assert answer == [False]


def test_lock_is_per_file_and_study_not_per_spelling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    absolute = f"sqlite:///{tmp_path / 'x.db'}"
    assert lock_path("sqlite:///x.db", "s") == lock_path(absolute, "s")
    assert lock_path(absolute, "s") != lock_path(absolute, "t")
