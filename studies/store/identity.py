"""Which process runs a trial: the ``worker`` user attribute every trial carries.

A RUNNING trial whose worker process no longer exists on this host is stale
(:func:`studies.store.trials.fail_dead_trials`); the tag is written in the same storage call
that creates the trial (:class:`studies.store.storage.TaggingStorage`), so there is no moment
when a trial exists without it.

A trial failed because its worker died (or went silent past the heartbeat's grace
period) carries the record of :func:`record_worker_death`: its ``fail_kind`` is
``worker_died`` and ``ran_seconds`` says how long it is known to have run. Its stored
duration runs until another process noticed the death, so it is no measure of its cost.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import optuna

from search.objective import FAIL_KIND_ATTR, FAIL_REASON_ATTR, WORKER_DIED

WORKER_ATTR = "worker"
# Seconds a trial whose worker died is known to have run (absent when unknown).
RAN_SECONDS_ATTR = "ran_seconds"


def worker_identity() -> dict[str, Any]:
    """This process: host name and pid."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def is_dead_local_worker(worker: Any) -> bool:
    """Whether ``worker`` (a :func:`worker_identity`) is a process of this host that no longer exists.

    Other hosts' processes, this process, and anything that is not an identity are not
    known to be dead: False.
    """
    if not isinstance(worker, dict) or worker.get("host") != socket.gethostname():
        return False
    pid = worker.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


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
