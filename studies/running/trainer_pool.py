"""A pool of worker processes that train proposals in parallel: HHO's ``--jobs``.

The leader (the process running HHO) hands each proposal to an idle worker process;
each worker opens the study itself, loads the data once, and runs the proposal as one
pinned trial, claimed from the budget gate like any other. Results come back as trial
numbers; the leader reads the finished trial from the storage and calls the run's
callbacks (one log line per trial, the failure guard) itself, so a run with worker
processes reports exactly like one without. A worker is replaced after ``per_process``
trials (TensorFlow leaks memory per model), which leaves HHO's state, in the leader,
untouched.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import multiprocessing
import queue
from collections.abc import Callable, Sequence
from typing import Any

import optuna

from search.optimizers import TrialCallback
from search.optimizers.trainer import Proposal
from studies.running.interrupts import deferred, raise_if_interrupted
from studies.running.workers import POLL_S, STOP_GRACE_S, failure_of, run_as_worker, stop_processes, threads_per_worker

_logger = logging.getLogger(__name__)

_REFUSED = -1  # the gate refused the trial: the study holds its budget


@dataclasses.dataclass
class _Worker:
    worker_id: int
    process: Any
    tasks: Any
    served: int = 0
    busy: int | None = None  # index of the proposal it is training


class TrainerPool:
    """``jobs`` worker processes training proposals of one study; use as a context manager.

    Implements :class:`search.optimizers.trainer.Trainer`.
    """

    def __init__(
        self,
        *,
        jobs: int,
        study: optuna.Study,
        storage: str | None,
        per_process: int | None = None,
        worker_init: Callable[[], None] | None = None,
    ) -> None:
        self._jobs = jobs
        self._study = study
        self._spec = {"study_name": study.study_name, "storage": storage}
        self._per_process = per_process
        self._worker_init = worker_init
        self._context = multiprocessing.get_context("spawn")
        self._results = self._context.Queue()
        self._ids = itertools.count()
        self._workers: list[_Worker] = []
        self._retired: list[_Worker] = []

    def __enter__(self) -> TrainerPool:
        _logger.info("Training in %d worker process(es) with %d TensorFlow thread(s) each%s", self._jobs,
                     threads_per_worker(self._jobs),
                     f", each replaced after {self._per_process} trials" if self._per_process else "")
        self._workers = [self._start() for _ in range(self._jobs)]
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            for worker in self._workers:
                worker.tasks.put(None)
            for worker in self._workers + self._retired:
                worker.process.join(STOP_GRACE_S)
        stop_processes([w.process for w in self._workers + self._retired])

    def train(
        self, proposals: Sequence[Proposal], *, callbacks: Sequence[TrialCallback] = ()
    ) -> list[optuna.trial.FrozenTrial | None]:
        """Train ``proposals`` in parallel; each finished trial (in completion order) goes to the callbacks."""
        out: list[optuna.trial.FrozenTrial | None] = [None] * len(proposals)
        waiting = list(range(len(proposals)))
        error: BaseException | None = None
        while waiting or any(w.busy is not None for w in self._workers):
            if error is None:
                self._assign(waiting, proposals)
            index, number = self._next_result()
            if number == _REFUSED:
                waiting.clear()  # the study is full: start nothing more
                continue
            trial = out[index] = self._finished(number)
            if error is None:
                try:
                    for callback in callbacks:
                        callback(self._study, trial)
                except Exception as exc:  # noqa: BLE001 - raised again below, once the running trials finish
                    error = exc
                    waiting.clear()
        if error is not None:
            raise error
        return out

    def _assign(self, waiting: list[int], proposals: Sequence[Proposal]) -> None:
        for slot, worker in enumerate(self._workers):
            if not waiting:
                return
            if worker.busy is not None:
                continue
            if self._per_process is not None and worker.served >= self._per_process:
                worker.tasks.put(None)
                self._retired.append(worker)
                worker = self._workers[slot] = self._start()
            worker.busy = waiting.pop(0)
            worker.tasks.put((worker.busy, proposals[worker.busy]))

    def _next_result(self) -> tuple[int, int]:
        while True:
            try:
                worker_id, index, number = self._results.get(timeout=POLL_S)
            except queue.Empty:
                raise_if_interrupted()
                self._check_alive()
                continue
            worker = next(w for w in self._workers if w.worker_id == worker_id)
            worker.busy = None
            worker.served += 1
            return index, number

    def _check_alive(self) -> None:
        for worker in self._workers:
            if worker.busy is not None and not worker.process.is_alive():
                raise failure_of(worker.process)

    def _finished(self, number: int) -> optuna.trial.FrozenTrial:
        trials = self._study.get_trials(deepcopy=False)
        return next(t for t in reversed(trials) if t.number == number)

    def _start(self) -> _Worker:
        worker_id = next(self._ids)
        tasks = self._context.Queue()
        process = self._context.Process(
            target=_serve, name=f"trainer-{worker_id}",
            args=(worker_id, self._jobs, self._spec, self._worker_init, tasks, self._results),
        )
        process.start()
        return _Worker(worker_id=worker_id, process=process, tasks=tasks)


def _serve(worker_id: int, jobs: int, spec: dict[str, Any], worker_init: Callable[[], None] | None,
           tasks: Any, results: Any) -> None:
    """Entry point of one worker process: train proposals until told to stop (None)."""
    def body() -> None:
        from search.optimizers.pinned import PinnedSampler
        from search.optimizers.trainer import run_pinned
        from studies.launch import open_for_training

        study, objective, gate = open_for_training(**spec)
        sampler = PinnedSampler()
        with deferred():  # a signal stops at a safe point: a batch end, a trial's start, a wait
            while (task := _next_task(tasks)) is not None:
                index, proposal = task
                trial = run_pinned(study, objective, proposal, sampler=sampler, gate=gate)
                results.put((worker_id, index, _REFUSED if trial is None else trial.number))

    run_as_worker(jobs=jobs, worker_init=worker_init, body=body)


def _next_task(tasks: Any) -> tuple[int, Proposal] | None:
    """The next task; None when told to stop or when the leader died (SIGKILL: nobody is left to ask)."""
    while True:
        try:
            return tasks.get(timeout=POLL_S)
        except queue.Empty:
            raise_if_interrupted()
            parent = multiprocessing.parent_process()
            if parent is not None and not parent.is_alive():
                _logger.warning("the leading process is gone; this worker stops")
                return None
