"""Why a trial failed, as kinds a program can act on: retry the configuration, or not."""

from __future__ import annotations

FAIL_REASON_ATTR = "fail_reason"
# Why a trial failed, as a kind a program can act on (``fail_reason`` is the words).
FAIL_KIND_ATTR = "fail_kind"
# The configuration's own failures: training it again in the same study would fail again.
DIVERGED = "diverged"
OUT_OF_MEMORY = "out_of_memory"
NO_EPOCH = "no_epoch"
# A promoted trial whose checkpoint cannot be read: its configuration cannot go on.
NO_CHECKPOINT = "no_checkpoint"
# The run's failures, not the configuration's: the configuration is still owed a training.
INTERRUPTED = "interrupted"
WORKER_DIED = "worker_died"
RUN_FAILURES = frozenset({INTERRUPTED, WORKER_DIED})


def is_retried(fail_kind: str | None) -> bool:
    """Whether a FAIL trial whose ``FAIL_KIND_ATTR`` is ``fail_kind`` (None: not recorded)
    leaves its configuration still owed a training.

    Yes for the run's failures (:data:`RUN_FAILURES`: interrupted, worker process died) and
    for a failure of no recorded kind (a study older than the kinds, or an exception Optuna
    failed the trial for); no for the configuration's own (diverged, out of memory, no epoch
    finished): training it again in the same study would fail again, so an optimizer gives
    it the objective's ``worst_value`` instead.
    """
    return fail_kind is None or fail_kind in RUN_FAILURES
