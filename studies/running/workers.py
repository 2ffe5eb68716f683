"""Parallel workers on one machine: ``launch --jobs J``.

J processes (not threads: TensorFlow keeps global state per process) each resume the
same study and train until the study holds its budget; the budget gate
(:mod:`studies.store.admission`) admits trials one at a time, so the study ends with exactly the
budget. Each worker gets ``cores / J`` TensorFlow threads. TensorFlow leaks memory with
every model it trains, so each worker process is replaced by a fresh one after a set
number of trials (``launch --recycle-every``). TPE workers share what they
learn through the storage (with the constant liar, a running trial counts as a poor
result so workers do not all sample the same region); HHO workers run one flock each,
seeded apart, sharing finished trials through the storage and the cache.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from typing import Any

from studies.exit_codes import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from studies.running.interrupts import Interrupts

_logger = logging.getLogger(__name__)

# Give worker k > 0, and a run resuming a study that already holds trials, an optimizer
# seed of their own (a fresh run's worker 0 keeps the study's seed).
WORKER_SEED_STRIDE = 7919
RESUME_SEED_STRIDE = 104_729
SEED_LIMIT = 2**31
# Seconds the workers get to fail their running trials after an interrupt.
STOP_GRACE_S = 30
# Seconds between looks at the workers.
POLL_S = 0.5


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


def set_tensorflow_threads(threads: int) -> None:
    """Give this process's TensorFlow ``threads`` threads (its share of the cores); before any op runs."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def run_workers(
    *, jobs: int, study_name: str, storage: str | None, budget: int, max_failures: int,
    per_process: int | None, has_room: Callable[[], bool], worker_init: Callable[[], None] | None,
) -> None:
    """Keep ``jobs`` worker processes on the study until it holds ``budget`` finished trials.

    Each process runs at most ``per_process`` trials (None: no limit) and is then replaced
    by a fresh one while ``has_room()`` says the study can take another trial.

    Raises:
        WorkerFailed: a worker ended with an error.
        KeyboardInterrupt: interrupted; the workers were stopped (their trials marked FAIL).
    """
    context = multiprocessing.get_context("spawn")
    kwargs = {"study_name": study_name, "storage": storage, "trials": budget, "max_failures": max_failures,
              "per_process": per_process}
    started = itertools.count()

    def start() -> Any:
        worker = next(started)
        process = context.Process(target=_worker_main, args=(worker, jobs, kwargs, worker_init),
                                  name=f"worker-{worker}")
        process.start()
        return process

    _logger.info("Running %d worker process(es) with %d TensorFlow thread(s) each%s", jobs,
                 threads_per_worker(jobs), f", each replaced after {per_process} trials" if per_process else "")
    active = [start() for _ in range(jobs)]
    try:
        while active:
            active = _replace_finished(active, start, has_room)
    except KeyboardInterrupt:
        stop_processes(active)
        raise


def _replace_finished(active: list[Any], start: Callable[[], Any], has_room: Callable[[], bool]) -> list[Any]:
    """Wait a moment; return the processes still running plus replacements of finished ones."""
    active[0].join(POLL_S)
    running = [p for p in active if p.is_alive()]
    for process in (p for p in active if not p.is_alive()):
        if process.exitcode != EXIT_OK:
            stop_processes(running)
            raise failure_of(process)
        if has_room():
            running.append(start())
    return running


def failure_of(process: Any) -> BaseException:
    """What a worker process that ended early means here: an interrupt (exit 130) or a failure."""
    if process.exitcode == EXIT_INTERRUPTED:
        return KeyboardInterrupt(f"{process.name} was interrupted")
    return WorkerFailed(f"{process.name} failed (exit {process.exitcode}); see its log lines above")


def stop_processes(processes: list[Any]) -> None:
    """SIGTERM each live process (it fails its trial and exits), then wait for them."""
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: the worker fails its trial and exits
    for process in processes:
        process.join(STOP_GRACE_S)


def _worker_main(worker: int, jobs: int, kwargs: dict[str, Any], worker_init: Callable[[], None] | None) -> None:
    """Entry point of one worker process: an independent optimizer on the study."""
    def body() -> None:
        from studies.launch import launch

        launch(**kwargs, resume=True, worker=worker)

    run_as_worker(jobs=jobs, worker_init=worker_init, body=body)


def run_as_worker(*, jobs: int, worker_init: Callable[[], None] | None, body: Callable[[], None]) -> None:
    """Set up this worker process (signals, its share of TensorFlow's threads, ``worker_init``),
    run ``body``, and exit with the CLI's exit code for how it ended."""
    interrupts = Interrupts()
    interrupts.install()
    set_tensorflow_threads(threads_per_worker(jobs))
    if worker_init is not None:
        worker_init()
    from models.errors import ConfigError
    from studies.running.progress import TooManyFailures

    try:
        body()
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except ConfigError as exc:
        _logger.error("%s", exc)
        sys.exit(EXIT_USAGE)
    except TooManyFailures as exc:
        _logger.error("%s", exc)
        sys.exit(EXIT_FAILURE)
    except Exception:
        if interrupts.requested:  # the interrupt, come out of TensorFlow as another error
            sys.exit(EXIT_INTERRUPTED)
        raise
    sys.exit(EXIT_OK)
