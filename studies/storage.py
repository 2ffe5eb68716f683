"""The one Optuna storage every study lives in.

Any SQLAlchemy URL works; the default is a SQLite file, ``studies.db``, in the working
directory. The URL can also come from ``$LSTM_TUNER_STORAGE`` (keeps a password out of
the process list). URLs are shown with their password masked, always.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from models.errors import ConfigError, first_line
from studies.identity import WORKER_ATTR, worker_identity

_logger = logging.getLogger(__name__)

DEFAULT_STORAGE = "sqlite:///studies.db"
STORAGE_ENV_VAR = "LSTM_TUNER_STORAGE"
# Seconds a SQLite connection waits for another writer's lock before failing.
SQLITE_BUSY_TIMEOUT_S = 60
# Heartbeat of running trials: a trial whose worker is silent for the grace period is
# failed by the next worker that starts a trial (Optuna's own mechanism).
HEARTBEAT_INTERVAL_S = 15
HEARTBEAT_GRACE_S = 60
_SQLITE_MAGIC = b"SQLite format 3\x00"
# What a password is shown as (SQLAlchemy's own mask).
MASK = "***"


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


class TaggingStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, except that a new trial carries its worker from the start.

    The ``worker`` user attribute is written in the same transaction that creates the
    trial, so a process killed at any moment after creating a trial leaves it failable
    by :func:`studies.trials.fail_dead_trials`. Trials created from a template (enqueued,
    copied) are left as the template has them.
    """

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        if template_trial is None:
            template_trial = optuna.trial.create_trial(state=TrialState.RUNNING,
                                                       user_attrs={WORKER_ATTR: worker_identity()})
        return super()._create_new_trial(study_id, template_trial)


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
    except (SQLAlchemyError, ValueError, RuntimeError, ImportError) as exc:
        raise ConfigError(f"cannot open storage {mask_url(url)}: {first_line(exc)}") from None


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
