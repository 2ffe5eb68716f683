"""A study's configuration, resolved once: the settings given, else the stored ones, else
the defaults, checked, recorded in the study, and turned into what trains its trials.

``launch``, the worker processes, ``worker`` on another host, ``compare`` and ``export``
all open a study through here, so they agree on every setting. Every check that can
fail on user input runs before the storage is written: a bad value stops with
:class:`~models.errors.ConfigError` and the store is untouched.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
from pathlib import Path
from typing import Any

import optuna

from models.data import MnistData, check_source, load_mnist
from models.errors import ConfigError, DataError, check_whole_number
from search.checkpoints import CheckpointStore
from search.objective import MAX_EPOCHS, LstmObjective, Objective, TrainSettings
from search.optimizers import Optimizer, create_optimizer
from search.schedulers import DEFAULT_REDUCTION_FACTOR, Limits, Rungs, SuccessiveHalving
from search.schedulers.halving import expected_trials
from search.space import DEFAULT_SPACE, SearchSpace
from search.space_file import load_space_file
from studies.running.interrupts import signal_received
from studies.running.pruners import create_pruner, default_pruner
from studies.store.record import MAX_TRIALS, StudyRecord, trial_cap
from studies.store.storage import open_storage, resolve_url, sqlite_path

_logger = logging.getLogger(__name__)

# The configurations the optimizer's settings are planned for when only --timeout bounds a
# study (TPE's random start-up trials, HHO's population): a typical hour of screening.
UNCAPPED_PLANNED_TRIALS = 50
# Trials per worker process before it is replaced (TensorFlow leaks memory per model).
DEFAULT_RECYCLE_EVERY = 25
DEFAULT_MAX_FAILURES = 5
# The limits a resume may change; it records them (what must match instead: store.record.MUST_MATCH).
RESUME_MAY_CHANGE = ("budget", "epoch_budget", "timeout")
DEFAULT_OPTIMIZER = "tpe"
DEFAULT_DATA = "auto"
DEFAULT_SEED = 0
# The screening rung of the default rungs (see search.schedulers), in epochs.
DEFAULT_FIRST_RUNG = 1
MAX_EPOCH_BUDGET = 10_000_000
MAX_TIMEOUT_S = 365 * 24 * 3600
DEFAULT_ARTIFACTS = "lstm-tuner-artifacts"
ARTIFACTS_SUFFIX = ".artifacts"
MAX_SEED = 2**31 - 1
STUDY_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Give worker k > 0, and a run resuming a study that already holds trials, a sampler
# seed of their own (a fresh run's worker 0 keeps the study's seed).
WORKER_SEED_STRIDE = 7919
RESUME_SEED_STRIDE = 104_729
SEED_LIMIT = 2**31


def check_study_name(name: Any) -> str:
    if not isinstance(name, str) or not STUDY_NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"--study must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or "
            f"digit, but got {name!r}"
        )
    return name


def worker_seed(seed: int, worker: int, started: int = 0) -> int:
    """The sampler seed of ``worker`` joining a study that held ``started`` trials.

    A resumed run must not replay the random proposals of the run it continues, and two
    workers must not make the same ones; a given history still gives the same seed.
    """
    return (seed + worker * WORKER_SEED_STRIDE + started * RESUME_SEED_STRIDE) % SEED_LIMIT


@dataclasses.dataclass(frozen=True)
class Given:
    """The settings given for a study (None: not given, take the stored or default one)."""

    optimizer: str | None = None
    seed: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    data: str | None = None
    space: SearchSpace | None = None
    pop_size: int | None = None
    pruner: str | None = None
    max_failures: int | None = None
    rungs: tuple[int, ...] | None = None
    reduction_factor: int | None = None
    epoch_budget: int | None = None
    timeout: float | None = None
    artifacts: str | None = None


@dataclasses.dataclass(frozen=True)
class StudySetup:
    """An open study with its resolved record, the objective its trials run and its optimizer."""

    study: optuna.Study
    record: StudyRecord
    objective: Objective
    optimizer: Optimizer
    space: SearchSpace


def open_study(
    *, name: str, storage: str | None, given: Given, trials: int | None, resume: bool, worker: int = 0
) -> StudySetup:
    """The study ``name`` (loaded and checked with ``resume``, else created) ready to run.

    ``worker`` numbers the process among those working on it (its sampler's seed).
    """
    check_study_name(name)
    if resume:
        study = _load_existing(name, open_storage(storage, must_exist=True))
        stored = _stored_record(study)
        record, objective, optimizer, space = _prepare(given, trials, stored=stored, worker=worker,
                                                       started=len(study.get_trials(deepcopy=False)),
                                                       storage=storage)
        _check_resumable(name, stored, record)
        _record_changes(study, stored, record)
    else:
        if trials is None and given.epoch_budget is None and given.timeout is None:
            raise ConfigError("a new study needs a budget: --trials (configurations to try), --epoch-budget "
                              "(training epochs in all) or --timeout (seconds), or several of them")
        record, objective, optimizer, space = _prepare(given, MAX_TRIALS if trials is None else trials,
                                                       stored=None, worker=worker, storage=storage)
        study = _create(name, open_storage(storage, must_exist=False), record)
    study.pruner = create_pruner(record.pruner, epochs=record.train["epochs"])
    return StudySetup(study=study, record=record, objective=objective, optimizer=optimizer, space=space)


def recorded_optimizer(record: StudyRecord) -> Optimizer:
    """The study's optimizer as its record describes it (to ask how it proposes)."""
    options = {k: v for k, v in record.optimizer_settings.items() if k == "pop_size"}
    return create_optimizer(record.optimizer, seed=record.seed, budget=record.initial_budget or record.budget,
                            options=options)


def read_space(space: SearchSpace | str | Path | None) -> SearchSpace | None:
    if space is None or isinstance(space, SearchSpace):
        return space
    return load_space_file(space)


def _prepare(
    given: Given, trials: int | None, *, stored: StudyRecord | None, worker: int = 0, started: int = 0,
    storage: str | None = None,
) -> tuple[StudyRecord, Objective, Optimizer, SearchSpace]:
    """Resolve every option (given, else stored, else default), load the data, build the parts."""
    def pick(value: Any, stored_value: Any, default: Any) -> Any:
        return value if value is not None else (stored_value if stored is not None else default)

    name = pick(given.optimizer, stored and stored.optimizer, DEFAULT_OPTIMIZER)
    seed = check_whole_number("--seed", pick(given.seed, stored and stored.seed, DEFAULT_SEED), low=0, high=MAX_SEED)
    budget = pick(trials, stored and stored.budget, None)
    stored_train = stored.train if stored else {}
    # A study made before rungs existed records no factor (and has one rung): it keeps recording none.
    recorded_factor = pick(given.reduction_factor, stored and stored.reduction_factor, DEFAULT_REDUCTION_FACTOR)
    reduction_factor = recorded_factor or DEFAULT_REDUCTION_FACTOR
    settings = _train_settings(given, stored_train if stored else None, reduction_factor)
    scheduler = SuccessiveHalving(rungs=settings.schedule, reduction_factor=reduction_factor)
    epoch_budget = pick(given.epoch_budget, stored and stored.epoch_budget, None)
    if epoch_budget is not None:
        check_whole_number("--epoch-budget", epoch_budget, low=1, high=MAX_EPOCH_BUDGET)
        scheduler.check_limits(Limits(trials=budget, epochs=epoch_budget))
    # The optimizer's settings are planned once, for the study's first limits: a resume that changes them keeps
    # the plan (see launch).
    initial_budget = (stored.initial_budget or stored.budget) if stored else _planned_configurations(
        budget, epoch_budget, scheduler)
    timeout = pick(given.timeout, stored and stored.timeout, None)
    if timeout is not None:
        check_timeout(timeout)
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
        pruner=pick(given.pruner, stored and stored.pruner, default_pruner(rungs=len(settings.rungs))),
        max_failures=given.max_failures or (stored and stored.max_failures) or DEFAULT_MAX_FAILURES,
        data={**mnist.describe(), "given": source},
    )
    artifacts = pick(given.artifacts, stored and stored.artifacts, None) or default_artifacts(storage)
    checkpoints = CheckpointStore(directory=artifacts)
    record = dataclasses.replace(record, reduction_factor=recorded_factor, epoch_budget=epoch_budget, timeout=timeout,
                                 artifacts=str(checkpoints.directory))
    objective = LstmObjective(data=mnist, space=space, settings=settings, seed=seed, stop_requested=signal_received,
                              checkpoints=checkpoints)
    return record, objective, runner, space


def _planned_configurations(budget: int, epoch_budget: int | None, scheduler: SuccessiveHalving) -> int:
    """The configurations the optimizer's settings are planned for: the trial cap, or fewer
    when the epoch budget screens fewer; a typical hour's when only time bounds the study."""
    if epoch_budget is not None:
        return min(budget, expected_trials(rungs=scheduler.rungs, reduction_factor=scheduler.reduction_factor,
                                           epochs=epoch_budget))
    return budget if trial_cap(budget) is not None else UNCAPPED_PLANNED_TRIALS


def _train_settings(given: Given, stored_train: dict[str, Any] | None, reduction_factor: int) -> TrainSettings:
    """How trials train: given, else stored, else default; rungs from --rungs, else the stored
    ones, else geometric from :data:`DEFAULT_FIRST_RUNG` up to --epochs by the reduction factor."""
    stored_train = stored_train or {}
    epochs = given.epochs if given.epochs is not None else stored_train.get("epochs")
    if given.rungs is not None:
        rungs = Rungs(tuple(given.rungs))
        epochs = rungs.top if epochs is None else epochs
    elif stored_train and given.epochs in (None, stored_train.get("epochs")):
        rungs = Rungs(tuple(stored_train.get("rungs") or (stored_train["epochs"],)))
    else:
        epochs = TrainSettings.epochs if epochs is None else epochs
        check_whole_number("--epochs", epochs, low=1, high=MAX_EPOCHS)
        rungs = Rungs.geometric(top=epochs, first=min(DEFAULT_FIRST_RUNG, epochs), factor=reduction_factor)
    batch_size = given.batch_size if given.batch_size is not None else stored_train.get("batch_size")
    return TrainSettings(epochs=rungs.top if epochs is None else epochs,
                         batch_size=TrainSettings.batch_size if batch_size is None else batch_size,
                         rungs=rungs.epochs)


def check_timeout(timeout: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT_S:
        raise ConfigError(f"--timeout must be a number of seconds in (0, {MAX_TIMEOUT_S}], but got {timeout!r}")
    return float(timeout)


def default_artifacts(storage: str | None) -> Path:
    """Where checkpoints go when --artifacts is not given: beside a SQLite file, else in
    ``DEFAULT_ARTIFACTS`` under the working directory (give a directory all hosts share
    when workers run elsewhere)."""
    db = sqlite_path(resolve_url(storage))
    if db is not None:
        return Path(db).with_name(Path(db).name + ARTIFACTS_SUFFIX).resolve()
    return (Path.cwd() / DEFAULT_ARTIFACTS).resolve()


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
    """Write what a resume may change (limits, max failures) and log changed limits."""
    changed = {name: getattr(record, name) for name in RESUME_MAY_CHANGE
               if getattr(record, name) != getattr(stored, name)}
    for name, value in changed.items():
        study.set_user_attr(name, value)
    if changed:
        _logger.info("Limits of study %r changed from %s to %s; the optimizer keeps its settings %s "
                     "(planned for %d configurations)", study.study_name, stored.limits_text(), record.limits_text(),
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
    dataclasses.replace(record, created_on=socket.gethostname()).write(study)
    _logger.info("Created study %r (%s, seed %d; %s)", name, record.optimizer, record.seed, record.limits_text())
    return study


