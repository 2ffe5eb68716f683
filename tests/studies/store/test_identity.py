"""When a worker is known dead: same host, boot and pid namespace, and its process is gone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from studies.store.identity import is_dead_local_worker, worker_identity


def _start_time(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat, read here independently of the code under test."""
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rpartition(")")[2].split()[19])


@pytest.fixture
def sleeper():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield child
    child.kill()
    child.wait()


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)


def test_a_live_pid_with_another_start_time_is_a_reused_pid_so_its_worker_is_dead(sleeper):
    started = _start_time(sleeper.pid)
    same = {**worker_identity(), "pid": sleeper.pid, "start_time": started}
    reused = {**same, "start_time": started + 1}
    assert not is_dead_local_worker(same)
    assert is_dead_local_worker(reused)


def test_an_exited_worker_not_yet_reaped_is_dead(sleeper):
    identity = {**worker_identity(), "pid": sleeper.pid, "start_time": _start_time(sleeper.pid)}
    sleeper.kill()
    os.waitid(os.P_PID, sleeper.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie answers kill(0)
    assert is_dead_local_worker(identity)


def test_this_process_is_alive():
    me = worker_identity()
    assert me["start_time"] == _start_time(me["pid"])
    assert not is_dead_local_worker(me)


@pytest.mark.parametrize("other", [{"host": "elsewhere"}, {"boot_id": "another-boot"},
                                   {"pid_namespace": "pid:[1]"}])
def test_a_dead_pid_of_another_host_boot_or_namespace_is_not_known_dead(other):
    ours = {**worker_identity(), "pid": _dead_pid()}
    assert is_dead_local_worker(ours)
    assert not is_dead_local_worker({**ours, **other})


@pytest.mark.parametrize("missing", ["boot_id", "pid_namespace", "start_time"])
def test_an_identity_without_a_field_is_not_known_dead(missing):
    identity = {**worker_identity(), "pid": _dead_pid()}
    del identity[missing]
    assert not is_dead_local_worker(identity)
    assert not is_dead_local_worker({**identity, missing: None})


def test_an_older_identity_of_host_and_pid_is_left_to_the_heartbeat():
    # Written before the identity had a boot and a namespace: its pid may be another namespace's.
    assert not is_dead_local_worker({"host": worker_identity()["host"], "pid": _dead_pid()})
