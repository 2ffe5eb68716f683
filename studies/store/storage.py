"""The one Optuna storage every study lives in.

Any SQLAlchemy URL works; the default is a SQLite file, ``studies.db``, in the working
directory. The URL can also come from ``$LSTM_TUNER_STORAGE`` (keeps a password out of
the process list). URLs are shown with their password masked, always.

Its heartbeat (Optuna's, on) fails the trials of workers that died or hung on any host;
:class:`TaggingStorage` gives every RUNNING trial its first heartbeat as it becomes RUNNING,
so a worker killed before its heartbeat thread started leaves no trial RUNNING forever.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages._rdb import models as rdb_models
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from models.errors import ConfigError, first_line
from studies.store.identity import WORKER_ATTR, record_worker_death, worker_identity

_logger = logging.getLogger(__name__)

DEFAULT_STORAGE = "sqlite:///studies.db"
STORAGE_ENV_VAR = "LSTM_TUNER_STORAGE"
# Seconds a SQLite connection waits for another writer's lock before failing.
SQLITE_BUSY_TIMEOUT_S = 60
# Heartbeat of running trials: a trial whose worker is silent for the grace period is
# failed by the next worker that starts a trial (Optuna's own mechanism), and so is one
# that has had no heartbeat at all for the grace period since it started.
HEARTBEAT_INTERVAL_S = 15
HEARTBEAT_GRACE_S = 60
_SQLITE_MAGIC = b"SQLite format 3\x00"
# What a password is shown as (SQLAlchemy's own mask).
MASK = "***"
# Optuna's RDB table of each running trial's last heartbeat, stamped by the database's clock.
_HEARTBEATS = sqlalchemy.table(
    "trial_heartbeats",
    sqlalchemy.column("trial_id", sqlalchemy.Integer),
    sqlalchemy.column("heartbeat", sqlalchemy.DateTime),
)
# The fail reason of a trial failed by the heartbeat.
STALE_REASON = "its worker sent no heartbeat within the grace period (died, or hung)"
# This project's extras that install a database driver, by the name SQLAlchemy gives the driver.
DRIVER_EXTRAS = {"psycopg": "postgres"}


def resolve_url(url: str | None) -> str:
    """The storage URL to use: ``url``, else ``$LSTM_TUNER_STORAGE``, else the default."""
    return url or os.environ.get(STORAGE_ENV_VAR) or DEFAULT_STORAGE


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for logs, files and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparsable storage URL>"


def sqlite_path(url: str) -> Path | None:
    """The file a ``sqlite://`` URL points at; None for other back ends or in-memory SQLite."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def heartbeat_run_seconds(storage: optuna.storages.BaseStorage, trial: FrozenTrial) -> float | None:
    """Seconds from ``trial``'s start to its last heartbeat: how long it is known to have run.

    None when that is unknown: a storage without Optuna's heartbeat table, or a trial
    with no heartbeat (heartbeat off, or a worker killed in the instant between taking a
    trial and the first heartbeat that :class:`TaggingStorage` writes as the trial becomes
    RUNNING). The heartbeat is stamped by the database's clock (UTC for SQLite) and the
    start by the worker's, so the heartbeat is first moved onto this host's clock.
    """
    rdb = rdb_storage(storage)
    if rdb is None or trial.datetime_start is None:
        return None
    query = sqlalchemy.select(_HEARTBEATS.c.heartbeat, sqlalchemy.func.now()).where(
        _HEARTBEATS.c.trial_id == trial._trial_id  # noqa: SLF001 - the row's key
    )
    with rdb.engine.connect() as connection:
        row = connection.execute(query).one_or_none()
        host_now = datetime.now()
    if row is None:
        return None
    # Naive, as Optuna compares them (PostgreSQL returns now() with a time zone).
    heartbeat, database_now = (stamp.replace(tzinfo=None) for stamp in row)
    last_beat = heartbeat - (database_now - host_now)
    return max(0.0, (last_beat - trial.datetime_start).total_seconds())


class TaggingStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, except that a RUNNING trial carries its worker and a heartbeat
    from the start, and a trial failed by the heartbeat carries the record of its worker's death.

    A new trial gets the ``worker`` user attribute and its first heartbeat in the same
    transaction that creates it; a WAITING (enqueued) trial a worker takes gets them right
    after it becomes RUNNING. So a process killed at any moment after creating or taking a
    trial leaves it failable: by :func:`studies.store.trials.fail_dead_trials` on its own
    machine, by the heartbeat (:func:`optuna.storages.fail_stale_trials`) anywhere. Trials
    created from a template (enqueued, copied) otherwise keep the template's attributes.

    Every process that runs trials of a study must open the storage with the heartbeat on
    (:func:`open_storage`, then ``study.optimize``, which beats): a RUNNING trial without
    heartbeats is failed once it is older than the grace period.

    :attr:`claimed`, when set, is called once this process's new or taken trial is stored
    RUNNING: the trial loop releases the study's budget lock there, before the sampler
    runs, so admissions wait only for each other's database writes, not for sampling.
    :attr:`only_take`, when set, is the one WAITING trial this process may take: Optuna
    takes the oldest queued trial it can, and a promotion the trial loop was admitted for
    must not wait behind a leader's queued proposals.
    """

    claimed: Callable[[], None] | None = None
    only_take: int | None = None
    # While True, the stale-trial check Optuna runs before each trial of ``study.optimize``
    # finds nothing: the trial loop runs it itself, outside the study's lock and less often.
    stale_checked_elsewhere: bool = False

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        if template_trial is None:
            template_trial = optuna.trial.create_trial(state=TrialState.RUNNING,
                                                       user_attrs={WORKER_ATTR: worker_identity()})
        trial = super()._create_new_trial(study_id, template_trial)
        if trial.state == TrialState.RUNNING and self.claimed is not None:
            self.claimed()
        return trial

    def _get_prepared_new_trial(self, study_id: int, template_trial: FrozenTrial | None,
                                session: Session) -> rdb_models.TrialModel:
        """Optuna's new trial, plus its first heartbeat if it is RUNNING, in the creating transaction."""
        trial = super()._get_prepared_new_trial(study_id, template_trial, session)
        if trial.state == TrialState.RUNNING and self.heartbeat_interval is not None:
            session.add(rdb_models.TrialHeartbeatModel(trial_id=trial.trial_id))  # stamped by the database
        return trial

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        """Optuna's, plus: a WAITING trial this process takes to RUNNING gets a heartbeat, then its worker.

        Raises:
            optuna.exceptions.UpdateFinishedTrialError: the trial is finished (by another
                process, possibly between taking it and tagging it; a study then takes another).
        """
        if state == TrialState.RUNNING and self.only_take is not None and trial_id != self.only_take:
            return False  # as if another process had taken it: Optuna moves on to the next queued trial
        taken = super().set_trial_state_values(trial_id, state, values)
        if taken and state == TrialState.RUNNING:
            if self.heartbeat_interval is not None:
                self.record_heartbeat(trial_id)
            self.set_trial_user_attr(trial_id, WORKER_ATTR, worker_identity())
            if self.claimed is not None:
                self.claimed()
        return taken

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        if self.stale_checked_elsewhere:
            return []
        return self._stale_trial_ids(study_id)

    def _stale_trial_ids(self, study_id: int) -> list[int]:
        """Optuna's heartbeat-stale trials and the RUNNING trials that have had no heartbeat
        for the grace period since they started (:meth:`_silent_since_start`), each first
        given :func:`record_worker_death`.

        :func:`optuna.storages.fail_stale_trials` fails the trials this returns. The record
        is written here, before, because Optuna refuses to set the attributes of a finished
        trial (so its ``heartbeat_stale_trial_callback``, called after, cannot). A trial
        another process finishes meanwhile is skipped; one its own (silent, not dead)
        worker finishes right after the record keeps the record, but not the FAIL that
        :func:`studies.compare.metrics.effective_seconds` requires to read it.
        """
        stale = super()._get_stale_trial_ids(study_id) + self._silent_since_start(study_id)
        for trial_id in stale:
            trial = self.get_trial(trial_id)
            try:
                record_worker_death(self, trial_id, reason=STALE_REASON, ran_seconds=heartbeat_run_seconds(self, trial))
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
        return stale

    def _silent_since_start(self, study_id: int) -> list[int]:
        """The ids of RUNNING trials with no heartbeat row that started more than the grace period ago.

        Optuna never finds these stale. Ours get a heartbeat as they become RUNNING, so this
        is a worker killed in the instant between taking a WAITING trial and its heartbeat,
        or a process that runs trials without the heartbeat. The start is stamped by the
        worker's clock and compared with this host's, so hosts sharing a storage must agree
        on the time (and time zone) to well within the grace period.
        """
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            return []
        ids = [trial._trial_id for trial in running]  # noqa: SLF001 - the rows' keys
        with self.engine.connect() as connection:
            beating = set(connection.execute(
                sqlalchemy.select(_HEARTBEATS.c.trial_id).where(_HEARTBEATS.c.trial_id.in_(ids))
            ).scalars())
        started_before = datetime.now() - timedelta(seconds=self._grace_period_s())
        return [trial_id for trial_id, trial in zip(ids, running, strict=True)
                if trial_id not in beating and trial.datetime_start is not None
                and trial.datetime_start < started_before]

    def _grace_period_s(self) -> int:
        """Optuna's grace period: the one given, else twice the heartbeat interval."""
        if self.grace_period is not None:
            return self.grace_period
        if self.heartbeat_interval is None:
            raise RuntimeError("the stale trials of a storage without heartbeat were asked for")
        return 2 * self.heartbeat_interval


def open_storage(url: str | None, *, must_exist: bool) -> optuna.storages.RDBStorage:
    """Open the storage at ``url`` (see :func:`resolve_url`).

    With ``must_exist``, a SQLite file that does not exist is an error rather than
    being created. An existing SQLite file is only read by opening it.

    Raises:
        ConfigError: unparsable URL, missing file, a file that is not SQLite, or a
            database Optuna cannot use.
    """
    url = resolve_url(url)
    path = sqlite_path(url)
    engine_kwargs: dict[str, object] = {}
    if path is not None:
        _check_sqlite_file(path, must_exist=must_exist)
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return TaggingStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=HEARTBEAT_INTERVAL_S,
                grace_period=HEARTBEAT_GRACE_S,
            )
    except ImportError as exc:
        raise ConfigError(_missing_driver_message(url, exc)) from None
    except (SQLAlchemyError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"cannot open storage {mask_url(url)}: {first_line(exc)}") from None


def rdb_storage(storage: optuna.storages.BaseStorage) -> optuna.storages.RDBStorage | None:
    """The RDB storage behind ``storage`` (a study holds its RDB storage in Optuna's cache); None if none."""
    if isinstance(storage, optuna.storages._CachedStorage):  # noqa: SLF001 - what optuna.get_storage wraps an RDBStorage in
        storage = storage._backend  # noqa: SLF001
    return storage if isinstance(storage, optuna.storages.RDBStorage) else None


def _missing_driver_message(url: str, exc: ImportError) -> str:
    """What to say when the driver of ``url`` cannot be imported: the module it needs and how to install it.

    Optuna replaces the driver's ImportError by a generic one; the real cause is in its chain.
    """
    cause = _root_import_error(exc)
    module = cause.name
    driver = _driver_name(url) or module or ""
    missing = f"the Python module {module!r}" if module else f"its driver {driver!r}"
    extra = DRIVER_EXTRAS.get(driver)
    fix = (f'install it with `pip install -e ".[{extra}]"`' if extra is not None else
           "install the package that provides it, or name an installed driver in the URL (dialect+driver://...)")
    return (f"cannot open storage {mask_url(url)}: {missing} cannot be imported ({first_line(cause)}), "
            f"and SQLAlchemy needs it for this URL; {fix}")


def _root_import_error(exc: ImportError) -> ImportError:
    """The innermost ImportError of ``exc``'s chain of causes."""
    root, seen = exc, {id(exc)}
    while isinstance(inner := root.__cause__ or root.__context__, ImportError) and id(inner) not in seen:
        root = inner
        seen.add(id(inner))
    return root


def _driver_name(url: str) -> str | None:
    """The name of the driver SQLAlchemy picks for ``url`` (its default for the dialect if the URL names none)."""
    try:
        return make_url(url).get_driver_name()
    except (SQLAlchemyError, ValueError, ImportError):
        return None


def _parse(url: str) -> sqlalchemy.engine.URL:
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"--storage must be a SQLAlchemy URL such as {DEFAULT_STORAGE}, but got {mask_url(url)}"
        ) from None


def _check_sqlite_file(path: Path, *, must_exist: bool) -> None:
    if not path.exists():
        if must_exist:
            raise ConfigError(f"no storage at {path}: run `launch` first, or pass the right --storage")
        if not path.parent.is_dir():
            raise ConfigError(f"cannot create storage {path}: directory {path.parent} does not exist")
        return
    if not path.is_file():
        raise ConfigError(f"storage {path} is not a file")
    with path.open("rb") as handle:
        header = handle.read(len(_SQLITE_MAGIC))
    if header and header != _SQLITE_MAGIC:
        raise ConfigError(f"storage {path} is not a SQLite database; point --storage at a .db file made by this tool")
