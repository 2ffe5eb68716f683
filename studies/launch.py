"""Launching and resuming a tuning study: the Python API behind ``run_search.py launch``.

Every check that can fail on user input runs before the storage is written: a bad
value stops the run with :class:`~models.errors.ConfigError` and the store is untouched.
``trials`` is the study's total budget of finished trials (COMPLETE, PRUNED or FAIL):
a resumed study runs only what is missing.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna

from models.data import MnistData, check_source, load_mnist
from models.errors import ConfigError, DataError, check_whole_number
from search.objective import LstmObjective, Objective, TrainSettings
from search.optimizers import OpenGate, Optimizer, TrialCallback, TrialGate, create_optimizer
from search.optimizers.trainer import PopulationOptimizer
from search.space import DEFAULT_SPACE, SearchSpace
from search.space_file import load_space_file
from studies.running.interrupts import deferred, signal_received
from studies.running.progress import FailureGuard, TrialLogger
from studies.running.pruners import DEFAULT_PRUNER, check_pruner, create_pruner
from studies.running.trainer_pool import TrainerPool
from studies.running.workers import run_workers, worker_seed
from studies.store.admission import BudgetGate
from studies.store.record import StudyRecord
from studies.store.storage import mask_url, open_storage, resolve_url
from studies.store.trials import WorkerTagged, best_finite, count_finished, fail_dead_trials

_logger = logging.getLogger(__name__)

MAX_TRIALS = 100_000
MAX_JOBS = 64
# Trials per worker process before it is replaced (TensorFlow leaks memory per model).
DEFAULT_RECYCLE_EVERY = 25
DEFAULT_MAX_FAILURES = 5
DEFAULT_OPTIMIZER = "tpe"
DEFAULT_DATA = "auto"
STUDY_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclasses.dataclass(frozen=True)
class LaunchResult:
    study_name: str
    storage: str
    finished: int
    budget: int
    best_value: float | None
    best_params: dict[str, Any] | None


def check_study_name(name: Any) -> str:
    if not isinstance(name, str) or not STUDY_NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"--study must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or "
            f"digit, but got {name!r}"
        )
    return name


def launch(
    *,
    study_name: str,
    trials: int | None = None,
    optimizer: str | None = None,
    storage: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    data: str | None = None,
    space: SearchSpace | str | Path | None = None,
    seed: int | None = None,
    pop_size: int | None = None,
    pruner: str | None = None,
    resume: bool = False,
    max_failures: int | None = None,
    progress: bool = False,
    jobs: int = 1,
    recycle_every: int = DEFAULT_RECYCLE_EVERY,
    worker_init: Callable[[], None] | None = None,
    worker: int = 0,
    per_process: int | None = None,
) -> LaunchResult:
    """Create (or with ``resume``, continue) a study and run it to ``trials`` finished trials.

    Options left as None take the stored value on resume, else the default. On resume, an
    option given with a value other than the stored one is refused, naming both, except
    ``trials`` and ``max_failures``, which a resume may change (the new values are
    recorded). Raising ``trials`` keeps the optimizer's settings as the study planned them
    (TPE keeps its start-up trial count, HHO its population size): they stay recorded as
    ``optimizer_settings``, with the budget they were planned for as ``initial_budget``.

    With ``jobs`` > 1, ``jobs`` worker processes (each calling ``worker_init`` first, e.g.
    to set up logging) train the study's trials, and the budget is exact: TPE and random
    run one sampler per process; HHO (a ``PopulationOptimizer``) runs here and has each
    population trained by the processes. TensorFlow's ``fit`` leaks memory with every
    new model (about 11 MB per tiny trial, see benchmarks/results/memory.md), so a worker
    process is replaced after ``recycle_every`` trials (0: never); a run of more trials
    than that uses a worker process even with one job. ``worker`` and ``per_process``
    are set by worker processes.

    Raises:
        ConfigError: bad input (nothing written).
        studies.running.progress.TooManyFailures: ``max_failures`` trials in a row failed.
    """
    check_study_name(study_name)
    if max_failures is not None:
        check_whole_number("--max-failures", max_failures, low=1, high=MAX_TRIALS)
    check_whole_number("--jobs", jobs, low=1, high=MAX_JOBS)
    check_whole_number("--recycle-every", recycle_every, low=0, high=MAX_TRIALS)
    if trials is not None:
        check_whole_number("--trials", trials, low=1, high=MAX_TRIALS)
    if pruner is not None:
        check_pruner(pruner)
    given = _Choices(optimizer, seed, epochs, batch_size, data, _read_space(space), pop_size, pruner, max_failures)
    study, record, objective, runner = _open(study_name, storage, given, trials, resume=resume, worker=worker)
    max_failures = record.max_failures or DEFAULT_MAX_FAILURES
    study.pruner = create_pruner(record.pruner, epochs=record.train["epochs"])
    fail_dead_trials(study)
    url = resolve_url(storage)
    gate = BudgetGate(study=study, budget=record.budget, url=url)
    remaining = record.budget - count_finished(study)
    in_processes = per_process is None and remaining > 0 and (jobs > 1 or 0 < recycle_every < remaining)
    if in_processes and isinstance(runner, PopulationOptimizer):
        # One optimizer here, its populations trained by worker processes.
        with TrainerPool(jobs=jobs, study=study, storage=storage, per_process=recycle_every or None,
                         worker_init=worker_init) as pool:
            run_study(study=study, optimizer=runner.with_trainer(pool), objective=objective, budget=record.budget,
                      max_failures=max_failures, progress=progress, gate=gate)
    elif in_processes:
        # Independent optimizers, one per worker process, sharing the study (TPE: constant liar).
        run_workers(jobs=jobs, study_name=study_name, storage=storage, budget=record.budget,
                    max_failures=max_failures, per_process=recycle_every or None,
                    has_room=gate.has_room, worker_init=worker_init)
    else:
        run_study(study=study, optimizer=runner, objective=objective, budget=record.budget,
                  max_failures=max_failures, progress=progress, gate=gate, limit=per_process)
    return _result(study, url, record.budget)


def open_for_training(*, study_name: str, storage: str | None) -> tuple[optuna.Study, Objective, BudgetGate]:
    """An existing study, ready for a worker process to train trials of it: the study (its
    pruner set), the objective (data loaded; trials tagged, the gate released once stored)
    and the study's budget gate."""
    given = _Choices(None, None, None, None, None, None, None, None, None)
    study, record, objective, _ = _open(study_name, storage, given, None, resume=True, worker=0)
    study.pruner = create_pruner(record.pruner, epochs=record.train["epochs"])
    gate = BudgetGate(study=study, budget=record.budget, url=resolve_url(storage))
    return study, WorkerTagged(objective, on_start=gate.release), gate


def _open(
    name: str, storage: str | None, given: _Choices, trials: int | None, *, resume: bool, worker: int
) -> tuple[optuna.Study, StudyRecord, Objective, Optimizer]:
    """The study to run (loaded and checked, or created) with its record, objective and optimizer."""
    if resume:
        study = _load_existing(name, open_storage(storage, must_exist=True))
        stored = _stored_record(study)
        record, objective, runner = _prepare(given, trials, stored=stored, worker=worker,
                                             started=len(study.get_trials(deepcopy=False)))
        _check_resumable(name, stored, record)
        _record_changes(study, stored, record)
        return study, record, objective, runner
    if trials is None:
        raise ConfigError("--trials is required for a new study (the total number of trials to run)")
    record, objective, runner = _prepare(given, trials, stored=None, worker=worker)
    study = _create(name, open_storage(storage, must_exist=False), record)
    return study, record, objective, runner


def run_study(
    *,
    study: optuna.Study,
    optimizer: Optimizer,
    objective: Objective,
    budget: int,
    max_failures: int = DEFAULT_MAX_FAILURES,
    progress: bool = False,
    callbacks: Sequence[TrialCallback] = (),
    gate: TrialGate | None = None,
    limit: int | None = None,
) -> None:
    """Run ``optimizer`` on ``study`` until it holds ``budget`` finished trials, or for ``limit`` trials.

    ``gate`` (default: admit all) lets several workers share the study's budget exactly.
    """
    gate = gate or OpenGate()
    done = count_finished(study)
    remaining = min(budget - done, limit or budget)
    if remaining <= 0:
        _logger.info("Study %r already holds %d finished trials of %d: nothing to run", study.study_name, done, budget)
        return
    _logger.info("Study %r: %d of %d trials finished, running %d with %s",
                 study.study_name, done, budget, remaining, optimizer.name)
    trial_logger = TrialLogger(total=budget, done=done, progress=progress)
    try:
        with deferred():  # a signal stops at a safe point: a batch end, a trial's start, the gate
            optimizer.run(
                study=study,
                objective=WorkerTagged(objective, on_start=gate.release),
                n_trials=remaining,
                callbacks=[trial_logger, FailureGuard(max_failures), *callbacks],
                gate=gate,
            )
    finally:
        trial_logger.close()


@dataclasses.dataclass(frozen=True)
class _Choices:
    optimizer: str | None
    seed: int | None
    epochs: int | None
    batch_size: int | None
    data: str | None
    space: SearchSpace | None
    pop_size: int | None
    pruner: str | None
    max_failures: int | None


def _read_space(space: SearchSpace | str | Path | None) -> SearchSpace | None:
    if space is None or isinstance(space, SearchSpace):
        return space
    return load_space_file(space)


def _prepare(
    given: _Choices, trials: int | None, *, stored: StudyRecord | None, worker: int = 0, started: int = 0
) -> tuple[StudyRecord, Objective, Optimizer]:
    """Resolve every option (given, else stored, else default), load the data, build the parts."""
    def pick(value: Any, stored_value: Any, default: Any) -> Any:
        return value if value is not None else (stored_value if stored is not None else default)

    name = pick(given.optimizer, stored and stored.optimizer, DEFAULT_OPTIMIZER)
    seed = check_whole_number("--seed", pick(given.seed, stored and stored.seed, 0), low=0, high=2**31 - 1)
    budget = pick(trials, stored and stored.budget, None)
    # The optimizer's settings stay those planned for the study's first budget (see launch).
    initial_budget = pick(None, stored and (stored.initial_budget or stored.budget), budget)
    stored_train = stored.train if stored else {}
    settings = TrainSettings(
        epochs=pick(given.epochs, stored_train.get("epochs"), TrainSettings.epochs),
        batch_size=pick(given.batch_size, stored_train.get("batch_size"), TrainSettings.batch_size),
    )
    space = given.space or (SearchSpace.from_dict(stored.space) if stored else DEFAULT_SPACE)
    stored_pop = (stored.optimizer_settings.get("pop_size") if stored else None)
    options = {"pop_size": pick(given.pop_size, stored_pop if name == "hho" else None, None)}
    runner = create_optimizer(name, seed=seed, budget=initial_budget, options=options)
    settings_of_study = runner.settings()
    if worker or started:
        runner = create_optimizer(name, seed=worker_seed(seed, worker, started), budget=initial_budget,
                                  options=options)
    source = pick(given.data, stored and stored.data.get("given"), DEFAULT_DATA)
    mnist = _load_data(source, stored=stored if given.data is None else None)
    record = StudyRecord(
        optimizer=name, optimizer_settings=settings_of_study, seed=seed, budget=budget,
        initial_budget=initial_budget, space=space.to_dict(), train=settings.to_dict(),
        pruner=pick(given.pruner, stored and stored.pruner, DEFAULT_PRUNER),
        max_failures=given.max_failures or (stored and stored.max_failures) or DEFAULT_MAX_FAILURES,
        data={**mnist.describe(), "given": source},
    )
    objective = LstmObjective(data=mnist, space=space, settings=settings, seed=seed, stop_requested=signal_received)
    return record, objective, runner


def _load_data(source: str, *, stored: StudyRecord | None) -> MnistData:
    """Load ``source``; ``stored`` when it is the data source a resumed study recorded.

    Raises:
        ConfigError: the recorded source is gone or now holds other data (pass --data).
        DataError: a source given now that is missing or not MNIST.
    """
    if stored is None:
        check_source(source)
        return load_mnist(source)
    wanted = stored.data.get("sha256")
    label = f"sha256 {wanted}" if wanted else f"{stored.data.get('train')} training samples"
    try:
        check_source(source)
        mnist = load_mnist(source)
    except DataError as exc:
        raise ConfigError(
            f"the study's data was given as {source!r} ({label}), and it cannot be read from here: {exc}. "
            "Pass --data with the same data"
        ) from None
    if wanted and mnist.sha256 != wanted:
        raise ConfigError(
            f"the study's data was given as {source!r} ({label}), but {source!r} now holds data with "
            f"sha256 {mnist.sha256}. Pass --data with the data the study was tuned on"
        )
    return mnist


def _record_changes(study: optuna.Study, stored: StudyRecord, record: StudyRecord) -> None:
    """Write what a resume may change (budget, max failures) and log a raised budget."""
    if record.budget != stored.budget:
        study.set_user_attr("budget", record.budget)
        _logger.info("Budget of study %r changed from %d to %d trials; the optimizer keeps its settings %s "
                     "(planned for %d)", study.study_name, stored.budget, record.budget,
                     record.optimizer_settings, record.initial_budget)
    if stored.initial_budget is None:
        study.set_user_attr("initial_budget", record.initial_budget)
    if record.max_failures != stored.max_failures:
        study.set_user_attr("max_failures", record.max_failures)


def _load_existing(name: str, store: optuna.storages.BaseStorage) -> optuna.Study:
    try:
        return optuna.load_study(study_name=name, storage=store)
    except KeyError:
        raise ConfigError(f"there is no study {name!r} to resume in this storage; drop --resume to create it") from None


def _stored_record(study: optuna.Study) -> StudyRecord:
    stored = StudyRecord.read(study)
    if stored is None:
        raise ConfigError(f"study {study.study_name!r} was not created by this tool, so it cannot be resumed here")
    return stored


def _check_resumable(name: str, stored: StudyRecord, record: StudyRecord) -> None:
    diffs = stored.differences(record)
    if diffs:
        raise ConfigError(
            f"--resume of study {name!r} with different settings: " + "; ".join(diffs)
            + ". Use the stored settings (leave the options out) or start a new study."
        )


def _create(name: str, store: optuna.storages.BaseStorage, record: StudyRecord) -> optuna.Study:
    if name in optuna.get_all_study_names(store):
        raise ConfigError(f"study {name!r} already exists: add --resume to continue it, or choose another --study")
    study = optuna.create_study(study_name=name, storage=store, direction="maximize",
                                pruner=create_pruner(record.pruner, epochs=record.train["epochs"]))
    record.write(study)
    _logger.info("Created study %r (%s, seed %d, budget %d)", name, record.optimizer, record.seed, record.budget)
    return study


def _result(study: optuna.Study, url: str, budget: int) -> LaunchResult:
    best = best_finite(study.get_trials(deepcopy=False))
    return LaunchResult(
        study_name=study.study_name,
        storage=mask_url(url),
        finished=count_finished(study),
        budget=budget,
        best_value=best.value if best else None,
        best_params=dict(best.params) if best else None,
    )
