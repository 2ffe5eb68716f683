from __future__ import annotations

import subprocess
import sys

import optuna
from optuna.trial import TrialState

from studies.trials import WORKER_ATTR, fail_dead_trials, worker_identity


def test_fails_running_trials_of_dead_local_processes_only(db_url):
    study = optuna.create_study(storage=db_url)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    me = worker_identity()
    orphan, mine, remote = study.ask(), study.ask(), study.ask()
    orphan.set_user_attr(WORKER_ATTR, {"host": me["host"], "pid": dead_pid})
    mine.set_user_attr(WORKER_ATTR, me)
    remote.set_user_attr(WORKER_ATTR, {"host": "elsewhere", "pid": dead_pid})
    assert fail_dead_trials(study) == [orphan.number]
    states = {t.number: t.state for t in study.trials}
    assert states == {orphan.number: TrialState.FAIL, mine.number: TrialState.RUNNING, remote.number: TrialState.RUNNING}
    assert "died" in study.trials[orphan.number].user_attrs["fail_reason"]
