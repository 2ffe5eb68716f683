"""Which process runs a trial: the ``worker`` user attribute every trial carries.

A RUNNING trial whose worker process no longer exists on this host is stale
(:func:`studies.trials.fail_dead_trials`); the tag is written in the same storage call
that creates the trial (:class:`studies.storage.TaggingStorage`), so there is no moment
when a trial exists without it.
"""

from __future__ import annotations

import os
import socket
from typing import Any

WORKER_ATTR = "worker"


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
