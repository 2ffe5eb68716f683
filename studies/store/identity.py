"""Which process runs a trial: the ``worker`` user attribute every trial carries.

The identity (:func:`worker_identity`) names the host, the kernel's boot, the pid
namespace, the pid and the process's start time. A RUNNING trial is failed at once
(:func:`studies.store.trials.fail_dead_trials`) only when its worker is *known* dead
(:func:`is_dead_local_worker`): the same host, boot and pid namespace as the process that
checks (so the pid means the same process to both), and that pid no longer runs the same
process. Containers that share a host name but not a pid namespace (Kubernetes
``hostNetwork``, ``docker --network host``) cannot see each other's processes, so their
trials, like those of other hosts, of older identities (host and pid only) and of systems
without ``/proc``, are left to Optuna's heartbeat.

The tag is written in the same storage transaction that creates the trial, and again when
a worker takes an enqueued (WAITING) trial (:class:`studies.store.storage.TaggingStorage`),
so a trial names its worker from the moment it is RUNNING, or, for the instant between
taking a WAITING trial and tagging it, is covered by the heartbeat.

A trial failed because its worker died (or went silent past the heartbeat's grace
period) carries the record of :func:`record_worker_death`: its ``fail_kind`` is
``worker_died`` and ``ran_seconds`` says how long it is known to have run. Its stored
duration runs until another process noticed the death, so it is no measure of its cost.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, TypeGuard

import optuna

from search.failures import FAIL_KIND_ATTR, FAIL_REASON_ATTR, WORKER_DIED

WORKER_ATTR = "worker"
# Seconds a trial whose worker died is known to have run (absent when unknown).
RAN_SECONDS_ATTR = "ran_seconds"
# The keys of a worker identity that say which machine and pid namespace its pid belongs to.
MACHINE_KEYS = ("host", "boot_id", "pid_namespace")
# Linux's id of the current boot; a pid of another boot is another process.
_BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
# Names this process's pid namespace, e.g. "pid:[4026531836]".
_PID_NAMESPACE_LINK = Path("/proc/self/ns/pid")
_PROC = Path("/proc")
# In /proc/<pid>/stat, the fields after the command name's closing parenthesis start at
# field 3 (state); field 22 is the start time in clock ticks since boot.
_STAT_AFTER_COMMAND = ")"
_STAT_STATE_INDEX = 0
_STAT_START_TIME_INDEX = 22 - 3
# The state of a process that has exited but was not yet reaped by its parent.
_ZOMBIE = "Z"


def worker_identity() -> dict[str, Any]:
    """This process: ``host`` name, ``boot_id``, ``pid_namespace``, ``pid`` and ``start_time``.

    ``start_time`` is in clock ticks since boot. ``boot_id``, ``pid_namespace`` and
    ``start_time`` are None where the system does not tell them (no Linux ``/proc``, or a
    ``/proc`` of another pid namespace); such an identity is never known dead.
    """
    return {**_this_machine(), "pid": os.getpid(), "start_time": _start_time(_PROC / "self")}


def is_dead_local_worker(worker: Any) -> bool:
    """Whether ``worker`` (a :func:`worker_identity`) is certainly a process that has ended.

    True only when its host, boot id and pid namespace all equal this process's (so its pid
    is a pid of our namespace) and that pid no longer exists, has exited (a zombie), or now
    belongs to a process started at another time (the pid was reused). Anything else is
    not known to be dead, False: another host, boot or namespace, a missing or malformed
    field (an identity from before these fields, or from a system without ``/proc``), a
    live process, and anything that is not an identity.
    """
    if not isinstance(worker, dict):
        return False
    here = _this_machine()
    if any(here[key] is None or worker.get(key) != here[key] for key in MACHINE_KEYS):
        return False
    pid, start_time = worker.get("pid"), worker.get("start_time")
    if not (_is_count(pid) and pid > 0 and _is_count(start_time)):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, another user's
        pass
    stat = _stat_fields(_PROC / str(pid))
    if stat is None:  # hidden from us (hidepid), or it ended just now: the next check knows
        return False
    return stat[_STAT_STATE_INDEX] == _ZOMBIE or _start_time_of(stat) != start_time


def record_worker_death(storage: optuna.storages.BaseStorage, trial_id: int, *, reason: str,
                        ran_seconds: float | None) -> None:
    """Record on the trial ``trial_id`` that its worker died: ``reason``, the kind, and ``ran_seconds`` if known.

    Written while the trial is still RUNNING, before it is failed: Optuna refuses to set the
    attributes of a finished trial.

    Raises:
        optuna.exceptions.UpdateFinishedTrialError: another process finished the trial first.
    """
    storage.set_trial_user_attr(trial_id, FAIL_REASON_ATTR, reason)
    storage.set_trial_user_attr(trial_id, FAIL_KIND_ATTR, WORKER_DIED)
    if ran_seconds is not None:
        storage.set_trial_user_attr(trial_id, RAN_SECONDS_ATTR, ran_seconds)


def _this_machine() -> dict[str, str | None]:
    """The :data:`MACHINE_KEYS` of this process (None for what the system does not tell)."""
    try:
        boot_id: str | None = _BOOT_ID_FILE.read_text().strip() or None
    except OSError:
        boot_id = None
    return {"host": socket.gethostname(), "boot_id": boot_id, "pid_namespace": _pid_namespace()}


def _pid_namespace() -> str | None:
    """This process's pid namespace; None without one, or when ``/proc`` shows another
    namespace's pids (then ``/proc/<pid>`` would not be our ``pid``)."""
    try:
        namespace = os.readlink(_PID_NAMESPACE_LINK)
        proc_is_ours = os.readlink(_PROC / "self") == str(os.getpid())
    except OSError:
        return None
    return namespace if proc_is_ours else None


def _start_time(process: Path) -> int | None:
    """The start time of the process whose ``/proc`` directory is ``process``; None if unknown."""
    stat = _stat_fields(process)
    return None if stat is None else _start_time_of(stat)


def _stat_fields(process: Path) -> list[str] | None:
    """The fields of ``process``'s ``stat`` file after its command name; None if it cannot be read."""
    try:
        text = (process / "stat").read_text()
    except OSError:
        return None
    _, found, after_command = text.rpartition(_STAT_AFTER_COMMAND)  # the name may hold ")" itself
    fields = after_command.split()
    return fields if found and len(fields) > _STAT_START_TIME_INDEX else None


def _start_time_of(stat: list[str]) -> int | None:
    value = stat[_STAT_START_TIME_INDEX]
    return int(value) if value.isdigit() else None


def _is_count(value: Any) -> TypeGuard[int]:
    """Whether ``value`` is a whole number >= 0 as JSON stores one (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
