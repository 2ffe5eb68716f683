"""A study's lock, held by its database: one holder at a time, on any host, released when the holder dies.

The study's budget (:mod:`studies.store.budget`) takes it to admit trials one at a time.
The lock belongs to the database and the study, not to the spelling of the storage URL:
``127.0.0.1`` and ``localhost``, or a relative and an absolute SQLite path, name the same
lock. One class per SQLAlchemy back end, chosen by :func:`study_lock`:

- PostgreSQL: a session-level advisory lock (``pg_advisory_lock``) on a connection of its
  own, keyed by :func:`lock_key` (advisory locks are per database).
- SQLite: an exclusive ``flock`` on ``<database file>.lock`` beside the database file;
  every study in that file shares it. It serializes processes on hosts that see the
  file's directory with working ``flock`` (one host, as SQLite itself needs).
- MySQL and MariaDB: ``GET_LOCK`` on a connection of its own (untested here: no server).

Any other back end is a :class:`~models.errors.ConfigError`. A lock is acquired by
blocking until it is free. A process killed while holding it loses it at once (its
connection or file closes); a host that dies holding it loses it once the database
notices (PostgreSQL: within :data:`RELEASE_BOUND_S` = 25 seconds, see :class:`PostgresLock`).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import IO, ClassVar, Protocol

import optuna
import sqlalchemy
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from models.errors import ConfigError, first_line
from studies.store.storage import rdb_storage

_logger = logging.getLogger(__name__)

# What every lock key and name of this product starts from, so they do not meet other programs' locks.
LOCK_PREFIX = "lstm-tuner/budget-gate"
# Lock keys are PostgreSQL bigints: 63 bits, non-negative.
_KEY_BYTES = 8
# The file beside a SQLite database that its lock is taken on: <database file name> + this.
SQLITE_LOCK_SUFFIX = ".lock"
# TCP keepalive of a lock's PostgreSQL connection, both ways: probe after this many idle
# seconds, then every interval, and give up after count unanswered probes.
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
# Seconds until a silent peer's connection is closed: the keepalive's, and the longest that
# sent data may go unacknowledged (TCP_USER_TIMEOUT) before the connection is closed.
RELEASE_BOUND_S = KEEPALIVE_IDLE_S + KEEPALIVE_COUNT * KEEPALIVE_INTERVAL_S
_MS_PER_S = 1000
# The drivers that pass libpq's connection parameters through (the client side's keepalive).
LIBPQ_DRIVERS = frozenset({"psycopg", "psycopg2", "psycopg2cffi"})
# GET_LOCK's timeout that means "wait as long as it takes".
_MYSQL_WAIT_FOREVER = -1


class StudyLock(Protocol):
    """An exclusive lock on one study: ``acquire`` blocks until it holds it; ``release`` is idempotent."""

    def acquire(self) -> None: ...

    def release(self) -> None: ...


class _LockFactory(Protocol):
    def __call__(self, *, engine: sqlalchemy.Engine, study_name: str) -> StudyLock: ...


def lock_key(study_name: str) -> int:
    """The study's lock key: a stable 63-bit integer from :data:`LOCK_PREFIX` and ``study_name`` only.

    Not from the URL, so that every spelling of it names the same lock.
    """
    digest = hashlib.sha256(f"{LOCK_PREFIX}\0{study_name}".encode()).digest()
    return int.from_bytes(digest[:_KEY_BYTES], "big") >> 1


class _SessionLock:
    """A lock the database server holds for one session: taken on a connection of its own
    (autocommit, so no transaction stays open while it is held) by :meth:`_take`, given back
    by ``unlock_statement`` with ``_unlock_params()``, and lost with the session if the
    holder dies. Subclasses set ``_engine`` and say how to set up a new session
    (:meth:`_prepare`) and how to take and give back the lock.

    The connection stays open between a release and the next acquire, so an admission
    pays no new connection (and no authentication); one that the server or the network
    closed while idle is replaced once, transparently."""

    unlock_statement: ClassVar[str]
    _engine: sqlalchemy.Engine
    _connection: sqlalchemy.Connection | None = None
    _held = False

    def _prepare(self, connection: sqlalchemy.Connection) -> None:
        """Set up a new session (nothing by default)."""

    def _take(self, connection: sqlalchemy.Connection) -> None:
        raise NotImplementedError

    def _unlock_params(self) -> dict[str, object]:
        raise NotImplementedError

    def acquire(self) -> None:
        self.release()
        try:
            self._take(self._session(fresh=False))
        except OperationalError:  # an idle session the server or the network closed: once more, anew
            self._take(self._session(fresh=True))
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        if not _unlock(self._connection, self.unlock_statement, self._unlock_params()):
            self.close()

    def close(self) -> None:
        """Release the lock if held and close the session."""
        self.release()
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _session(self, *, fresh: bool) -> sqlalchemy.Connection:
        if fresh:
            self.close()
        if self._connection is None:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                self._prepare(connection)
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection


class PostgresLock(_SessionLock):
    """``pg_advisory_lock(lock_key(study))``, held by a connection of its own to the storage's database.

    The connection is made from the storage engine's URL (driver, password and URL
    options; not options given to that engine apart from its URL), opened by
    :meth:`acquire` and kept for the next one (the holder's death ends the session and
    with it the lock). It is in autocommit: no transaction stays open while the lock is
    held.

    Both ends watch the connection: the server (``tcp_keepalives_*`` and
    ``tcp_user_timeout``, set for the session) so that it ends the session of a host
    that died or lost the network while holding the lock, and the client (libpq's
    ``keepalives_*`` and ``tcp_user_timeout``) so that it does not wait forever on a dead
    server. A dead host's lock is thus released within :data:`RELEASE_BOUND_S` = 25
    seconds (over TCP; over a Unix socket client and server share a host). Needs
    PostgreSQL 12 or later. A connection pooler in transaction mode (PgBouncer) breaks
    session locks: point the storage at the server itself.
    """

    def __init__(self, *, engine: sqlalchemy.Engine, study_name: str) -> None:
        connect_args = ({"keepalives": 1, "keepalives_idle": KEEPALIVE_IDLE_S,
                         "keepalives_interval": KEEPALIVE_INTERVAL_S, "keepalives_count": KEEPALIVE_COUNT,
                         "tcp_user_timeout": RELEASE_BOUND_S * _MS_PER_S}
                        if engine.url.get_driver_name() in LIBPQ_DRIVERS else {})
        self._engine = sqlalchemy.create_engine(engine.url, poolclass=NullPool, connect_args=connect_args)
        self._key = lock_key(study_name)

    unlock_statement = "SELECT pg_advisory_unlock(:key)"

    def _unlock_params(self) -> dict[str, object]:
        return {"key": self._key}

    def _prepare(self, connection: sqlalchemy.Connection) -> None:
        connection.execute(
            sqlalchemy.text("SELECT set_config('tcp_keepalives_idle', :idle, false), "
                            "set_config('tcp_keepalives_interval', :interval, false), "
                            "set_config('tcp_keepalives_count', :count, false), "
                            "set_config('tcp_user_timeout', :user_timeout, false)"),
            {"idle": str(KEEPALIVE_IDLE_S), "interval": str(KEEPALIVE_INTERVAL_S),
             "count": str(KEEPALIVE_COUNT), "user_timeout": str(RELEASE_BOUND_S * _MS_PER_S)},
        )

    def _take(self, connection: sqlalchemy.Connection) -> None:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": self._key})


class SqliteFileLock:
    """An exclusive ``flock`` on ``<database file>.lock`` beside the SQLite database file.

    The path is resolved (working directory, symbolic links) when the lock is made, so
    every spelling of the file takes the same lock. The lock file is created if missing
    and never removed (removing it would let two holders lock two different files).
    """

    def __init__(self, *, engine: sqlalchemy.Engine, study_name: str) -> None:
        database = engine.url.database
        if database in (None, "", ":memory:"):
            raise ConfigError("a budget gate needs a SQLite database in a file (an in-memory one is private to "
                              "its process), but the storage is in memory; use sqlite:///<file>.db")
        resolved = Path(str(database)).resolve()
        self.path = resolved.with_name(resolved.name + SQLITE_LOCK_SUFFIX)
        self._handle: IO[bytes] | None = None

    def acquire(self) -> None:
        self.release()
        try:
            handle = self.path.open("ab")
        except OSError as exc:
            raise ConfigError(f"cannot open the study lock {self.path} beside the SQLite database ({first_line(exc)}); "
                              "make that directory writable") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except BaseException:
            handle.close()
            raise
        self._handle = handle

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()


class MysqlLock(_SessionLock):
    """``GET_LOCK(name)`` on a connection of its own; MySQL and MariaDB. Untested: no such server here.

    MySQL's named locks are per server, so the name covers the database and the study
    (hashed, to fit the 64 characters MySQL allows). The server frees the lock when the
    holder's connection closes; a dead host's only once the server drops the connection
    (its ``wait_timeout``, or the operating system's TCP keepalive).
    """

    def __init__(self, *, engine: sqlalchemy.Engine, study_name: str) -> None:
        self._engine = sqlalchemy.create_engine(engine.url, poolclass=NullPool)
        where = f"{LOCK_PREFIX}\0{engine.url.database}\0{study_name}"
        self._name = f"lstm-tuner-{hashlib.sha256(where.encode()).hexdigest()[:32]}"

    unlock_statement = "SELECT RELEASE_LOCK(:name)"

    def _unlock_params(self) -> dict[str, object]:
        return {"name": self._name}

    def _take(self, connection: sqlalchemy.Connection) -> None:
        got = connection.execute(sqlalchemy.text("SELECT GET_LOCK(:name, :wait)"),
                                 {"name": self._name, "wait": _MYSQL_WAIT_FOREVER}).scalar()
        if got != 1:
            raise RuntimeError(f"the server refused the study lock {self._name} (GET_LOCK returned {got!r})")


def _unlock(connection: sqlalchemy.Connection | None, statement: str, params: dict[str, object]) -> bool:
    """Release a lock the server holds for the session of ``connection``; False if that failed.

    If the session is already gone, so is its lock: a warning, and the caller closes it.
    """
    if connection is None:
        return True
    try:
        connection.execute(sqlalchemy.text(statement), params)
    except SQLAlchemyError as exc:
        _logger.warning("could not release the study lock (%s); closing its connection", first_line(exc))
        return False
    return True


# The lock of each SQLAlchemy back end (by its name for the URL's dialect).
LOCKS: Mapping[str, _LockFactory] = {
    "postgresql": PostgresLock,
    "sqlite": SqliteFileLock,
    "mysql": MysqlLock,
    "mariadb": MysqlLock,
}


def engine_lock(*, engine: sqlalchemy.Engine, study_name: str) -> StudyLock:
    """The lock of ``study_name`` in the database behind ``engine`` (nothing is acquired yet).

    Raises:
        ConfigError: a back end without such a lock, or an in-memory SQLite database.
    """
    backend = engine.url.get_backend_name()
    factory = LOCKS.get(backend)
    if factory is None:
        raise ConfigError(f"a study shared by several workers needs a PostgreSQL or SQLite storage (their "
                          f"database holds the budget's lock), but the storage's back end is {backend!r}; "
                          "use postgresql://... or sqlite:///...")
    return factory(engine=engine, study_name=study_name)


def study_lock(*, storage: optuna.storages.BaseStorage, study_name: str) -> StudyLock:
    """The lock of ``study_name`` in ``storage`` (an RDB storage, bare or in Optuna's cache); see :func:`engine_lock`.

    Raises:
        ConfigError: ``storage`` is not a database (Optuna's in-memory or journal
            storage), or its back end has no lock.
    """
    rdb = rdb_storage(storage)
    if rdb is None:
        raise ConfigError(f"a study shared by several workers needs a database storage, but it is in a "
                          f"{type(storage).__name__}; open it with a postgresql:// or sqlite:/// URL")
    return engine_lock(engine=rdb.engine, study_name=study_name)
