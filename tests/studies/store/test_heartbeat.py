"""Every RUNNING trial of our storage has a heartbeat from the start, so a worker killed at any
moment leaves a trial Optuna's heartbeat fails, on any host; on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime

import optuna
import pytest
from optuna.trial import TrialState

from studies.store.identity import WORKER_ATTR, worker_identity
from studies.store.storage import HEARTBEAT_GRACE_S, open_storage
from tests.studies.store.heartbeats import age_heartbeats, heartbeats

GRACE = datetime.timedelta(seconds=HEARTBEAT_GRACE_S)
# Older than the grace period, with room for the clocks' resolution.
SILENT = 2 * GRACE

# The tests ask for trials without study.optimize (a worker killed before its heartbeat thread starts).
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request):
    return request.getfixturevalue("db_url" if request.param == "sqlite" else "postgres_url")


def _study(url: str) -> optuna.Study:
    return optuna.create_study(study_name="s", storage=open_storage(url, must_exist=False))


def test_a_new_trial_has_a_heartbeat_from_its_creation_so_a_worker_killed_before_beating_is_failed(url):
    study = _study(url)
    trial = study.ask()  # no study.optimize: no heartbeat thread, as for a worker killed right after
    assert set(heartbeats(url)) == {trial._trial_id}
    optuna.storages.fail_stale_trials(study)
    assert study.trials[0].state == TrialState.RUNNING  # beat just now
    age_heartbeats(url, by=SILENT)
    optuna.storages.fail_stale_trials(study)
    (failed,) = study.trials
    assert failed.state == TrialState.FAIL and failed.user_attrs["fail_kind"] == "worker_died"
    assert failed.user_attrs["ran_seconds"] == pytest.approx(0, abs=2)  # up to its only heartbeat


def test_an_enqueued_trial_a_worker_takes_names_the_worker_and_has_a_heartbeat(url):
    study = _study(url)
    study.enqueue_trial({"x": 1.0})  # a leader's proposal, WAITING
    assert heartbeats(url) == {}
    (waiting,) = study.trials
    assert waiting.state == TrialState.WAITING and WORKER_ATTR not in waiting.user_attrs
    taken = study.ask()
    assert taken.number == waiting.number
    (running,) = study.trials
    assert running.state == TrialState.RUNNING
    assert running.user_attrs[WORKER_ATTR] == worker_identity()
    assert set(heartbeats(url)) == {running._trial_id}


def test_a_running_trial_without_any_heartbeat_is_failed_once_older_than_the_grace_period(url):
    # Trials of a process killed in the instant between taking a trial and its first heartbeat
    # (here: made through Optuna's plain storage, which writes no heartbeat).
    plain = optuna.create_study(study_name="s", storage=optuna.storages.RDBStorage(url))
    for age in (SILENT, GRACE / 2):
        template = optuna.trial.create_trial(state=TrialState.RUNNING)
        template.datetime_start = datetime.datetime.now() - age
        plain.add_trial(template)
    assert heartbeats(url) == {}
    study = optuna.load_study(study_name="s", storage=open_storage(url, must_exist=True))
    optuna.storages.fail_stale_trials(study)
    old, young = study.trials
    assert old.state == TrialState.FAIL and old.user_attrs["fail_kind"] == "worker_died"
    assert "ran_seconds" not in old.user_attrs  # it never beat: unknown
    assert young.state == TrialState.RUNNING
