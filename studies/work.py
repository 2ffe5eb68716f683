"""Joining studies as a worker: the Python API behind ``run_search.py worker``.

Start the same command on any number of hosts against one database: each worker reads
a study's recorded settings (space, data by name and digest, training settings, pruner),
trains its trials through the one trial loop until the study holds its budget, and moves
on to the next study with work (or stops, with ``study_name``). The budget is kept by the
database (:mod:`studies.store.budget`), so the study ends exact whichever workers die.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from collections.abc import Callable

import optuna

from models.errors import ConfigError, check_whole_number
from studies.config import DEFAULT_RECYCLE_EVERY, MAX_TRIALS, check_study_name, recorded_optimizer
from studies.running.interrupts import deferred, raise_if_interrupted
from studies.running.leader import leader_alive
from studies.running.worker import serve
from studies.running.workers import WorkerPool
from studies.store.budget import StudyBudget
from studies.store.record import StudyRecord
from studies.store.storage import mask_url, open_storage, resolve_url, sqlite_path

_logger = logging.getLogger(__name__)

MAX_WORKER_JOBS = 64
# Seconds a worker waits for a named study to be created, and between looks.
STUDY_WAIT_S = 120.0
STUDY_POLL_S = 1.0
DEFAULT_WORKER_JOBS = 1


@dataclasses.dataclass(frozen=True)
class WorkResult:
    storage: str
    studies: tuple[str, ...]  # the studies this command worked on


def work(
    *,
    storage: str | None = None,
    study_name: str | None = None,
    jobs: int = DEFAULT_WORKER_JOBS,
    recycle_every: int = DEFAULT_RECYCLE_EVERY,
    worker_init: Callable[[], None] | None = None,
) -> WorkResult:
    """Train trials of ``study_name`` (None: of every study in the store that has work) with
    ``jobs`` processes on this host, until none is left.

    Raises:
        ConfigError: no such study, a study this tool did not make, a SQLite study created
            on another host, or settings or data that cannot be used here.
    """
    check_whole_number("--jobs", jobs, low=1, high=MAX_WORKER_JOBS)
    check_whole_number("--recycle-every", recycle_every, low=0, high=MAX_TRIALS)
    url = resolve_url(storage)
    store = open_storage(url, must_exist=True)
    if study_name is not None:
        check_study_name(study_name)
        _wait_for_study(store, study_name, url=url)
    served: list[str] = []
    while True:
        name = study_name if study_name is not None else _next_with_work(store, exclude=served)
        if name is None or (study_name is not None and served):
            break
        _check_host(url, store, name)
        _logger.info("Working on study %r of %s", name, mask_url(url))
        if jobs == 1 and recycle_every == 0:
            serve(study_name=name, storage=url)
        else:
            _serve_with_processes(store, name, storage=url, jobs=jobs, per_process=recycle_every or None,
                                  worker_init=worker_init)
        served.append(name)
    return WorkResult(storage=mask_url(url), studies=tuple(served))


def _wait_for_study(store: optuna.storages.BaseStorage, name: str, *, url: str) -> None:
    """Wait up to :data:`STUDY_WAIT_S` for ``name`` to exist (workers of a job array may start
    before the process that creates the study)."""
    deadline = time.monotonic() + STUDY_WAIT_S
    while name not in optuna.get_all_study_names(store):
        if time.monotonic() >= deadline:
            raise ConfigError(f"there is no study {name!r} in {mask_url(url)} (waited {STUDY_WAIT_S:g} s); "
                              "create it with `launch`")
        raise_if_interrupted()
        time.sleep(STUDY_POLL_S)


def _next_with_work(store: optuna.storages.BaseStorage, *, exclude: list[str]) -> str | None:
    """The first study (by name) of this tool that has trials to train now."""
    for name in sorted(optuna.get_all_study_names(store)):
        if name in exclude:
            continue
        study = optuna.load_study(study_name=name, storage=store)
        record = StudyRecord.read(study)
        if record is not None and _has_work(study, record):
            return name
    return None


def _has_work(study: optuna.Study, record: StudyRecord) -> bool:
    keeper = StudyBudget.of(study, record)
    if keeper.done():
        return False
    counts = keeper.counts()
    samples_in_workers = recorded_optimizer(record).proposes_in_workers
    return bool(counts.waiting or counts.running or samples_in_workers or leader_alive(study))


def _check_host(url: str, store: optuna.storages.BaseStorage, name: str) -> None:
    """Refuse a SQLite study created on another host: SQLite's file locks do not hold across hosts."""
    if sqlite_path(url) is None:
        return
    record = StudyRecord.read(optuna.load_study(study_name=name, storage=store))
    if record is None:
        raise ConfigError(f"study {name!r} was not made by this tool, so its settings are unknown")
    here = socket.gethostname()
    if record.created_on is not None and record.created_on != here:
        raise ConfigError(
            f"study {name!r} lives in a SQLite file created on host {record.created_on!r}, and this is {here!r}: "
            "SQLite's file locks do not hold across hosts (a shared or network file system), so the budget "
            'could not be kept. Put studies shared by several hosts in PostgreSQL: pip install -e ".[postgres]" '
            "and --storage postgresql://USER@HOST/DB (password in $LSTM_TUNER_STORAGE)"
        )


def _serve_with_processes(store: optuna.storages.BaseStorage, name: str, *, storage: str, jobs: int,
                          per_process: int | None, worker_init: Callable[[], None] | None) -> None:
    study = optuna.load_study(study_name=name, storage=store)
    record = StudyRecord.read(study)
    if record is None:
        raise ConfigError(f"study {name!r} was not made by this tool, so its settings are unknown")
    with deferred(), WorkerPool(jobs=jobs, study_name=name, storage=storage, per_process=per_process,
                                worker_init=worker_init) as pool:
        while pool.alive:
            raise_if_interrupted()
            pool.supervise(has_work=_has_work(study, record))
