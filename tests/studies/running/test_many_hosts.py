"""Workers on several 'hosts' (processes with their own temporary directory) against one
database: the study ends with exactly its budget, whichever workers die."""

from __future__ import annotations

import multiprocessing
import os
import signal

import optuna
import pytest
from optuna.trial import TrialState

from studies.store.identity import WORKER_ATTR
from studies.store.storage import open_storage
from tests.helpers import wait_for
from tests.studies.running import fleet

pytestmark = pytest.mark.slow

BUDGET = 12
HOSTS = 4
RUNS = 3
JOIN_S = 120
POPULATION = 5  # the hawks of fleet.create_study's HHO
# A trial of the worker that is killed: long enough that it is still running when the kill arrives.
VICTIM_TRIAL_S = 30.0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hosts.db'}"
    return request.getfixturevalue("postgres_url")


def _states(url, name):
    study = optuna.load_study(study_name=name, storage=open_storage(url, must_exist=True))
    return [t.state for t in study.get_trials(deepcopy=False)]


def _start_hosts(url, name, tmp_path, *, seconds=fleet.TRIAL_S, first_host_seconds=None):
    """Start the hosts; each trial sleeps ``seconds``, on the first host ``first_host_seconds`` if given."""
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    hosts = []
    for host in range(HOSTS):
        tmpdir = tmp_path / f"{name}-host{host}"
        tmpdir.mkdir()
        sleep = first_host_seconds if host == 0 and first_host_seconds is not None else seconds
        process = context.Process(target=fleet.work, args=(url, name, host, str(tmpdir), start, sleep))
        process.start()
        hosts.append(process)
    return start, hosts


def _lead(url, name):
    process = multiprocessing.get_context("spawn").Process(target=fleet.lead, args=(url, name))
    process.start()
    return process


@pytest.mark.parametrize("optimizer", ["tpe", "hho"])
def test_four_hosts_end_with_exactly_the_budget_three_runs_in_a_row(url, optimizer, tmp_path):
    for run in range(RUNS if url.startswith("postgresql") else 1):  # SQLite: one host in practice
        name = f"{optimizer}-{run}"
        fleet.create_study(url, name, optimizer=optimizer, budget=BUDGET)
        start, hosts = _start_hosts(url, name, tmp_path)
        leader = _lead(url, name) if optimizer == "hho" else None
        start.set()
        for process in [*hosts, *([leader] if leader else [])]:
            process.join(JOIN_S)
        assert [p.exitcode for p in hosts] == [0] * HOSTS
        assert leader is None or leader.exitcode == 0
        assert _states(url, name) == [TrialState.COMPLETE] * BUDGET, f"run {run}"


@pytest.mark.parametrize("optimizer", ["tpe", "hho"])
def test_a_worker_killed_in_its_trial_leaves_the_study_exact(url, optimizer, tmp_path):
    name = f"killed-{optimizer}"
    fleet.create_study(url, name, optimizer=optimizer, budget=BUDGET)
    # the victim's trial outlasts the look that finds it RUNNING, so the kill lands inside it
    start, hosts = _start_hosts(url, name, tmp_path, seconds=0.3, first_host_seconds=VICTIM_TRIAL_S)
    leader = _lead(url, name) if optimizer == "hho" else None
    start.set()
    victim = hosts[0]

    def victim_running():
        study = optuna.load_study(study_name=name, storage=open_storage(url, must_exist=True))
        return any(t.state == TrialState.RUNNING and t.user_attrs.get(WORKER_ATTR, {}).get("pid") == victim.pid
                   for t in study.get_trials(deepcopy=False))

    assert wait_for(victim_running, timeout=60, interval=0.02)
    os.kill(victim.pid, signal.SIGKILL)
    for process in [*hosts[1:], *([leader] if leader else [])]:
        process.join(JOIN_S)
    victim.join(JOIN_S)
    assert [p.exitcode for p in hosts[1:]] == [0] * (HOSTS - 1)
    assert victim.exitcode == -signal.SIGKILL
    states = _states(url, name)
    assert len(states) == BUDGET
    assert states.count(TrialState.FAIL) == 1 and states.count(TrialState.COMPLETE) == BUDGET - 1


def test_a_leader_killed_mid_population_is_resumed_by_a_new_one(url, tmp_path):
    name = "leader-killed"
    fleet.create_study(url, name, optimizer="hho", budget=BUDGET)
    leader = _lead(url, name)
    assert wait_for(lambda: _states(url, name).count(TrialState.WAITING) == POPULATION, timeout=60, interval=0.02)
    os.kill(leader.pid, signal.SIGKILL)  # its first population is queued, none trained
    leader.join(JOIN_S)
    queued = _states(url, name).count(TrialState.WAITING)
    start, hosts = _start_hosts(url, name, tmp_path)
    start.set()
    successor = _lead(url, name)  # `launch --resume`: adopts the queue instead of proposing it again
    for process in [*hosts, successor]:
        process.join(JOIN_S)
    assert queued == POPULATION and successor.exitcode == 0 and [p.exitcode for p in hosts] == [0] * HOSTS
    study = optuna.load_study(study_name=name, storage=open_storage(url, must_exist=True))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * BUDGET
    keys = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(keys)) == BUDGET  # nothing proposed twice
