from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
from optuna.trial import TrialState

from studies.identity import WORKER_ATTR, worker_identity
from studies.storage import open_storage
from studies.trials import fail_dead_trials


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


def test_a_trial_created_through_our_storage_names_its_worker_from_the_start(tmp_path):
    # A process that dies right after creating its trial (before the objective runs) still
    # leaves a trial that the next run can fail.
    url = f"sqlite:///{tmp_path / 't.db'}"
    code = ("import os, optuna; from studies.storage import open_storage; "
            f"s = optuna.create_study(study_name='s', storage=open_storage({url!r}, must_exist=False)); "
            "s.ask(); os._exit(0)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
    study = optuna.load_study(study_name="s", storage=open_storage(url, must_exist=True))
    (orphan,) = study.trials
    assert orphan.state == TrialState.RUNNING and orphan.user_attrs[WORKER_ATTR]["pid"] != os.getpid()
    assert fail_dead_trials(study) == [0]
    assert study.trials[0].state == TrialState.FAIL
