"""A worker in another pid namespace of this host (a container sharing the host name, as with
Kubernetes hostNetwork or docker --network host) is never failed for a pid we cannot see;
its trial is left to the heartbeat."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from studies.store.identity import WORKER_ATTR, worker_identity
from studies.store.storage import HEARTBEAT_GRACE_S, STORAGE_ENV_VAR, open_storage
from studies.store.trials import fail_dead_trials
from tests.helpers import ROOT
from tests.studies.store.heartbeats import age_heartbeats

pytestmark = pytest.mark.slow

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
# The container: its first process makes the next pid the one given ($1), then starts the
# worker ($2 -c $3) as that pid.
CONTAINER = 'echo $(($1 - 1)) > /proc/sys/kernel/ns_last_pid && { "$2" -c "$3" & wait; }'
WORKER = """
import os, time, optuna
from studies.store.storage import open_storage
optuna.create_study(study_name="s", storage=open_storage(None, must_exist=False)).ask()
print(os.getpid(), flush=True)
time.sleep(600)
"""


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)


@pytest.fixture
def can_unshare():
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux's unshare")
    if subprocess.run([*UNSHARE, "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a pid namespace here (needs root, or unprivileged user namespaces)")


def test_a_live_trial_of_another_pid_namespace_is_left_to_the_heartbeat(tmp_path, can_unshare):
    url = f"sqlite:///{tmp_path / 't.db'}"
    pid = _dead_pid()  # in the container: the worker's pid; here: no process
    container = subprocess.Popen([*UNSHARE, "sh", "-c", CONTAINER, "sh", str(pid), sys.executable, WORKER],
                                 cwd=ROOT, env={**os.environ, STORAGE_ENV_VAR: url}, stdout=subprocess.PIPE, text=True)
    try:
        assert container.stdout is not None
        assert int(container.stdout.readline()) == pid, "the worker did not get the pid asked for"
        study = optuna.load_study(study_name="s", storage=open_storage(url, must_exist=True))
        (trial,) = study.trials
        worker = trial.user_attrs[WORKER_ATTR]
        assert worker["host"] == worker_identity()["host"] and worker["pid"] == pid
        assert fail_dead_trials(study) == []
        assert study.trials[0].state == TrialState.RUNNING
    finally:
        container.kill()  # --kill-child: the container's first process, and with it the worker
        container.wait()
    # Dead now, but we cannot tell from here: only the heartbeat can.
    assert fail_dead_trials(study) == []
    optuna.storages.fail_stale_trials(study)
    assert study.trials[0].state == TrialState.RUNNING
    age_heartbeats(url, by=datetime.timedelta(seconds=2 * HEARTBEAT_GRACE_S))
    optuna.storages.fail_stale_trials(study)
    (failed,) = study.trials
    assert failed.state == TrialState.FAIL and failed.user_attrs["fail_kind"] == "worker_died"
