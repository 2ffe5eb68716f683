"""Parallel workers on one machine: ``launch --jobs J``.

J processes (not threads: TensorFlow keeps global state per process) each resume the
same study and train until the study holds its budget; the budget gate
(:mod:`studies.gate`) admits trials one at a time, so the study ends with exactly the
budget. Each worker gets ``cores / J`` TensorFlow threads. TPE workers share what they
learn through the storage (with the constant liar, a running trial counts as a poor
result so workers do not all sample the same region); HHO workers run one flock each,
seeded apart, sharing finished trials through the storage and the cache.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

_logger = logging.getLogger(__name__)

# Give worker k > 0, and a run resuming a study that already holds trials, an optimizer
# seed of their own (a fresh run's worker 0 keeps the study's seed).
WORKER_SEED_STRIDE = 7919
RESUME_SEED_STRIDE = 104_729
SEED_LIMIT = 2**31
# Seconds the workers get to fail their running trials after an interrupt.
STOP_GRACE_S = 30
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class WorkerFailed(RuntimeError):
    """A worker process ended with an error (its own log says which)."""


def worker_seed(seed: int, worker: int, started: int = 0) -> int:
    """The optimizer seed of ``worker`` joining a study that held ``started`` trials.

    A resumed run must not replay the random proposals of the run it continues, and two
    workers must not make the same ones; a given history still gives the same seed.
    """
    return (seed + worker * WORKER_SEED_STRIDE + started * RESUME_SEED_STRIDE) % SEED_LIMIT


def threads_per_worker(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)


def run_workers(
    *, jobs: int, study_name: str, storage: str | None, budget: int, max_failures: int,
    worker_init: Callable[[], None] | None,
) -> None:
    """Run ``jobs`` worker processes on the study until it holds ``budget`` finished trials.

    Raises:
        WorkerFailed: a worker ended with an error.
        KeyboardInterrupt: interrupted; the workers were stopped (their trials marked FAIL).
    """
    context = multiprocessing.get_context("spawn")
    kwargs = {"study_name": study_name, "storage": storage, "trials": budget, "max_failures": max_failures}
    processes = [
        context.Process(target=_worker_main, args=(k, jobs, kwargs, worker_init), name=f"worker-{k}")
        for k in range(jobs)
    ]
    _logger.info("Starting %d worker processes with %d TensorFlow thread(s) each", jobs, threads_per_worker(jobs))
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        _stop(processes)
        raise
    codes = [p.exitcode for p in processes]
    if EXIT_INTERRUPTED in codes:
        raise KeyboardInterrupt("a worker was interrupted")
    failed = [f"worker-{k} (exit {c})" for k, c in enumerate(codes) if c != EXIT_OK]
    if failed:
        raise WorkerFailed(f"{', '.join(failed)} failed; see its log lines above")


def _stop(processes: list[Any]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: the worker fails its trial and exits
    for process in processes:
        process.join(STOP_GRACE_S)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _worker_main(worker: int, jobs: int, kwargs: dict[str, Any], worker_init: Callable[[], None] | None) -> None:
    """Entry point of one worker process: exits with the CLI's exit codes."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    import tensorflow as tf

    threads = threads_per_worker(jobs)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    if worker_init is not None:
        worker_init()
    from models.errors import ConfigError
    from studies.launch import launch
    from studies.progress import TooManyFailures

    try:
        launch(**kwargs, resume=True, worker=worker)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except ConfigError as exc:
        _logger.error("%s", exc)
        sys.exit(EXIT_USAGE)
    except TooManyFailures as exc:
        _logger.error("%s", exc)
        sys.exit(EXIT_FAILURE)
    sys.exit(EXIT_OK)
