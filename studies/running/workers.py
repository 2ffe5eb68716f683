"""Worker processes on this machine: ``launch --jobs J``.

J processes (not threads: TensorFlow keeps global state per process) each run a worker
(:func:`studies.running.worker.serve`) on the study; the study's budget
(:mod:`studies.store.budget`) admits their trials one at a time, so it ends with exactly
its budget. Each gets ``cores / J`` TensorFlow threads. TensorFlow leaks memory with every
model it trains, so a process is replaced by a fresh one after a set number of trials
(``launch --recycle-every``), while the study has work left. The launching process
meanwhile leads the study when its optimizer proposes from one place (HHO).
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from typing import Any

from models.errors import ConfigError
from studies.exit_codes import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from studies.running.interrupts import Interrupts
from studies.running.progress import TooManyFailures
from studies.running.worker import serve

_logger = logging.getLogger(__name__)

# Seconds the workers get to fail their running trials after an interrupt.
STOP_GRACE_S = 30
# Seconds between looks at the workers.
POLL_S = 0.5


class WorkerFailed(RuntimeError):
    """A worker process ended with an error (its own log says which)."""


def threads_per_worker(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)


def set_tensorflow_threads(threads: int) -> None:
    """Give this process's TensorFlow ``threads`` threads (its share of the cores); before any op runs."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


class WorkerPool:
    """``jobs`` worker processes on one study, each replaced after ``per_process`` trials
    (None: never) while :meth:`supervise` is told the study has work left."""

    def __init__(self, *, jobs: int, study_name: str, storage: str | None, per_process: int | None,
                 worker_init: Callable[[], None] | None) -> None:
        self._jobs = jobs
        # A local worker stops, after its trial, when the process that started it is gone.
        self._kwargs = {"study_name": study_name, "storage": storage, "limit": per_process, "parent": os.getpid()}
        self._worker_init = worker_init
        self._context = multiprocessing.get_context("spawn")
        self._numbers = itertools.count()
        self._active: list[Any] = []
        if jobs:
            _logger.info("Running %d worker process(es) with %d TensorFlow thread(s) each%s", jobs,
                         threads_per_worker(jobs), f", each replaced after {per_process} trials" if per_process else "")

    def __enter__(self) -> WorkerPool:
        self._active = [self._start() for _ in range(self._jobs)]
        return self

    def __exit__(self, *exc: object) -> None:
        stop_processes(self._active)

    @property
    def alive(self) -> int:
        return sum(p.is_alive() for p in self._active)

    def supervise(self, *, has_work: bool) -> None:
        """Wait a moment; replace each process that finished while ``has_work``.

        Raises:
            WorkerFailed, KeyboardInterrupt: a process ended with an error or was interrupted
                (the others are stopped first).
        """
        if self._active:
            self._active[0].join(POLL_S)
        running = [p for p in self._active if p.is_alive()]
        for process in (p for p in self._active if not p.is_alive()):
            if process.exitcode != EXIT_OK:
                stop_processes(running)
                self._active = []
                raise failure_of(process)
            if has_work:
                running.append(self._start())
        self._active = running

    def _start(self) -> Any:
        number = next(self._numbers)
        process = self._context.Process(target=_worker_main, args=(number, self._jobs, self._kwargs,
                                                                   self._worker_init), name=f"worker-{number}")
        process.start()
        return process


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
    """Entry point of one worker process: a worker on the study."""
    def body() -> None:
        serve(**kwargs, worker=worker)

    run_as_worker(jobs=jobs, worker_init=worker_init, body=body)


def run_as_worker(*, jobs: int, worker_init: Callable[[], None] | None, body: Callable[[], None]) -> None:
    """Set up this worker process (signals, its share of TensorFlow's threads, ``worker_init``),
    run ``body``, and exit with the CLI's exit code for how it ended."""
    interrupts = Interrupts()
    interrupts.install()
    set_tensorflow_threads(threads_per_worker(jobs))
    if worker_init is not None:
        worker_init()
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
