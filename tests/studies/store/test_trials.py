from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from search.space import DEFAULT_SPACE
from studies.compare.collect import StudyRun
from studies.compare.metrics import run_metrics
from studies.store.identity import WORKER_ATTR, worker_identity
from studies.store.record import StudyRecord
from studies.store.storage import open_storage
from studies.store.trials import FINISHED_STATES, fail_dead_trials
from tests.helpers import ROOT


def test_fails_running_trials_of_dead_local_processes_only(db_url):
    study = optuna.create_study(storage=db_url)
    dead_pid = _dead_pid()
    me = worker_identity()
    orphan, mine, remote = study.ask(), study.ask(), study.ask()
    orphan.set_user_attr(WORKER_ATTR, {**me, "pid": dead_pid})
    mine.set_user_attr(WORKER_ATTR, me)
    remote.set_user_attr(WORKER_ATTR, {**me, "host": "elsewhere", "pid": dead_pid})
    assert fail_dead_trials(study) == [orphan.number]
    states = {t.number: t.state for t in study.trials}
    assert states == {orphan.number: TrialState.FAIL, mine.number: TrialState.RUNNING,
                      remote.number: TrialState.RUNNING}
    assert "died" in study.trials[orphan.number].user_attrs["fail_reason"]
    # No heartbeat (a plain storage has it off): how long it ran is unknown, not the time until now.
    assert study.trials[orphan.number].user_attrs["fail_kind"] == "worker_died"
    assert "ran_seconds" not in study.trials[orphan.number].user_attrs
    assert _metrics(study)["unknown_durations"] == 1


def test_a_trial_created_through_our_storage_names_its_worker_from_the_start(tmp_path):
    # A process that dies right after creating its trial (before the objective runs) still
    # leaves a trial that the next run can fail.
    url = f"sqlite:///{tmp_path / 't.db'}"
    code = ("import os, optuna; from studies.store.storage import open_storage; "
            f"s = optuna.create_study(study_name='s', storage=open_storage({url!r}, must_exist=False)); "
            "s.ask(); os._exit(0)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    study = optuna.load_study(study_name="s", storage=open_storage(url, must_exist=True))
    (orphan,) = study.trials
    assert orphan.state == TrialState.RUNNING and orphan.user_attrs[WORKER_ATTR]["pid"] != os.getpid()
    assert fail_dead_trials(study) == [0]
    assert study.trials[0].state == TrialState.FAIL


# A killed run's trial: started this long before the next run, heartbeat stopped this soon after its start.
GAP = datetime.timedelta(hours=5)
RAN = datetime.timedelta(seconds=120)
# SQLite's clock has whole seconds; the ran time may be off by that much.
CLOCK_RESOLUTION_S = 2.0


@pytest.fixture(params=["UTC", "Etc/GMT+5"])
def local_zone(request, monkeypatch):
    """This process's local time zone: SQLite stamps heartbeats in UTC, Optuna trial starts in local time."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)


def _killed_long_ago(tmp_path, *, worker):
    """A study with one RUNNING trial of ``worker`` that started GAP ago and last beat RAN after its start."""
    path = tmp_path / "t.db"
    study = optuna.create_study(study_name="s", storage=open_storage(f"sqlite:///{path}", must_exist=False))
    template = optuna.trial.create_trial(state=TrialState.RUNNING, user_attrs={WORKER_ATTR: worker})
    template.datetime_start = datetime.datetime.now() - GAP
    study.add_trial(template)
    study._storage.record_heartbeat(study.trials[0]._trial_id)  # stamped now, by the database's clock
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE trial_heartbeats SET heartbeat = datetime(heartbeat, ?)",
                   (f"-{(GAP - RAN).total_seconds()} seconds",))
    return study


def _metrics(study):
    record = StudyRecord(optimizer="tpe", optimizer_settings={}, seed=0, budget=1,
                         space=DEFAULT_SPACE.to_dict(), train={"epochs": 1, "batch_size": 128},
                         data={"source": "x", "train": 1, "val": 1, "test": 1})
    finished = tuple(study.get_trials(states=FINISHED_STATES))
    return run_metrics(StudyRun(name="s", record=record, trials=finished, cache_hits=0), target=1.0)


def test_a_dead_workers_trial_counts_the_time_up_to_its_last_heartbeat_not_the_downtime(tmp_path, local_zone):
    study = _killed_long_ago(tmp_path, worker={**worker_identity(), "pid": _dead_pid()})
    assert fail_dead_trials(study) == [0]
    (failed,) = study.trials
    assert failed.state == TrialState.FAIL and failed.duration > GAP  # the stored duration has the downtime
    metrics = _metrics(study)
    assert metrics["elapsed_seconds"] == [pytest.approx(RAN.total_seconds(), abs=CLOCK_RESOLUTION_S)]
    assert metrics["unknown_durations"] == 0
    assert failed.user_attrs["fail_kind"] == "worker_died" and "died" in failed.user_attrs["fail_reason"]
    assert failed.user_attrs["ran_seconds"] == pytest.approx(RAN.total_seconds(), abs=CLOCK_RESOLUTION_S)


def test_optunas_heartbeat_failure_records_the_time_up_to_the_last_heartbeat(tmp_path, local_zone):
    study = _killed_long_ago(tmp_path, worker={"host": "elsewhere", "pid": 1})
    optuna.storages.fail_stale_trials(study)
    (failed,) = study.trials
    assert failed.state == TrialState.FAIL
    assert _metrics(study)["trial_seconds"] == pytest.approx(RAN.total_seconds(), abs=CLOCK_RESOLUTION_S)
    assert failed.user_attrs["fail_kind"] == "worker_died"
    assert failed.user_attrs["ran_seconds"] == pytest.approx(RAN.total_seconds(), abs=CLOCK_RESOLUTION_S)


def test_a_trial_another_process_fails_first_is_skipped(db_url, monkeypatch):
    # Two `launch --resume` at once: the other one fails the trial between our read and our write.
    study = optuna.create_study(study_name="s", storage=db_url)
    orphan = study.ask()
    orphan.set_user_attr(WORKER_ATTR, {**worker_identity(), "pid": _dead_pid()})
    other = optuna.load_study(study_name="s", storage=db_url)
    read = study.get_trials
    failed_by_other = []

    def read_then_other_fails(*args, **kwargs):
        trials = read(*args, **kwargs)
        failed_by_other.extend(fail_dead_trials(other))
        return trials

    monkeypatch.setattr(study, "get_trials", read_then_other_fails)
    assert fail_dead_trials(study) == []
    assert failed_by_other == [orphan.number]
    assert study.trials[orphan.number].state == TrialState.FAIL
