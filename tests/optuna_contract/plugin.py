"""A pytest plugin that runs Optuna's own storage test suite against :class:`TaggingStorage`.

``.ci/optuna-storage-suite`` downloads the sdist of the installed Optuna release, extracts
its ``tests/storages_tests`` (as ``optuna_tests/storages_tests``) and runs it with
``-p tests.optuna_contract.plugin --contract-backend=sqlite`` (or ``postgresql``). The
project's own test run never loads this module; it acts only when loaded with ``-p``.

- Every ``RDBStorage`` the suite creates is a :class:`TaggingStorage`: the class is
  replaced in ``optuna.storages`` and ``optuna.storages._rdb.storage``, the names the suite
  and :class:`optuna.testing.storages.StorageSupplier` build it through, before any test
  module is imported (checked at collection: a module bound to another class is an error).
- With ``postgresql``, each SQLite database a test asks for (a temporary file, or
  ``:memory:``) is a fresh schema of the server at ``$LSTM_TUNER_TEST_POSTGRES_URL``
  instead (:class:`RoutedTaggingStorage`), dropped after the test; ``$TEST_DB_URL``, which
  Optuna's server tests read, is a fresh schema for each of them.
- Only the parts of the suite that exercise an RDB storage run; the others are left out,
  each with its reason in the run's summary (:data:`EXCLUDED_PATHS`, :func:`exclusion`).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import secrets
import sys
import types
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import optuna
import optuna.storages._rdb.storage as optuna_rdb_storage
import pytest
import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from studies.store.storage import TaggingStorage

BACKEND_OPTION = "--contract-backend"
SQLITE = "sqlite"
POSTGRESQL = "postgresql"
BACKENDS = (SQLITE, POSTGRESQL)
# The PostgreSQL server of the tests (.ci/run starts one); never printed: it holds a password.
POSTGRES_URL_ENV_VAR = "LSTM_TUNER_TEST_POSTGRES_URL"
# What Optuna's test_with_server.py reads its database URL from.
SERVER_URL_ENV_VAR = "TEST_DB_URL"
SERVER_TESTS_MODULE = "test_with_server.py"
# The modules of Optuna whose ``RDBStorage`` the suite constructs.
PATCHED_MODULES = (optuna.storages, optuna_rdb_storage)
PATCHED_NAME = "RDBStorage"
# The names under which the suite parametrizes a test by storage mode (optuna.testing.storages).
MODE_PARAMETERS = ("storage", "storage_mode")
# The storage modes backed by an RDBStorage (directly, in Optuna's cache, or behind a gRPC proxy).
RDB_MODES = frozenset({"sqlite", "cached_sqlite", "grpc_rdb"})
NON_RDB_MODE = "storage mode not backed by an RDBStorage (in-memory, journal, gRPC over a journal)"
# Files and folders of the suite that are not collected, and why.
EXCLUDED_PATHS = {
    "journal_tests": "journal storage (file or Redis log): no RDBStorage involved",
    "test_models.py": "Optuna's ORM models on a bare SQLAlchemy engine: no storage class involved",
}
SQLITE_PASS_ONLY = "runs in the SQLite pass"
# Tests of the SQLite pass only: they are about SQLite files, not the storage contract.
SQLITE_FILE_TESTS = {
    "test_init_url_template": f"checks a {{SCHEMA_VERSION}} template in a SQLite file name; {SQLITE_PASS_ONLY}",
    "test_init_url_that_contains_percent_character": f"checks '%' in a SQLite file name; {SQLITE_PASS_ONLY}",
    "test_upgrade_single_objective_optimization": f"migrates SQLite files of old releases; {SQLITE_PASS_ONLY}",
    "test_upgrade_multi_objective_optimization": f"migrates SQLite files of old releases; {SQLITE_PASS_ONLY}",
    "test_upgrade_distributions": f"migrates SQLite files of old releases; {SQLITE_PASS_ONLY}",
}
# Tests of behaviour the product changes on purpose (docs/reliability.md), left out of both passes.
WORKER_TAG = ("a new trial carries its worker's identity (user attribute 'worker') from the transaction that "
              "creates it, so a process killed at any moment leaves a trial the next run can fail")
DELIBERATE_DIFFERENCES = {
    "test_create_new_trial": WORKER_TAG,
    "test_set_trial_user_attr": WORKER_TAG,
    "test_fail_stale_trials": ("a RUNNING trial gets its first heartbeat when it is created, and one silent since "
                               "its start is failed after the grace period, so a worker killed before its first "
                               "beat cannot leave it RUNNING forever"),
}
# Fails with Optuna's own RDBStorage too where SQLAlchemy opens postgresql:// URLs with another
# driver than the psycopg2 it hides (SQLAlchemy 2.1 picks psycopg 3, which this project installs).
IMPORT_ERROR_TEST = "test_init_db_module_import_error"
HIDDEN_DRIVER = "psycopg2"
SERVER_PASS_ONLY = f"needs a database server (${SERVER_URL_ENV_VAR}); runs in the PostgreSQL pass"
SCHEMA_PREFIX = "optuna_contract"
SCHEMA_TOKEN_BYTES = 4
# How long dropping a test's schemas waits for a lock before failing the teardown.
DROP_LOCK_TIMEOUT = "10s"


class SchemaRouter:
    """Fresh schemas of one PostgreSQL database for the SQLite databases of one test.

    The same SQLite file URL gets the same schema until :meth:`reset` (two storages of one
    file share their data, as they would in SQLite); every ``:memory:`` URL gets a new one.
    """

    def __init__(self, server_url: str) -> None:
        self._server_url = make_url(server_url)
        # No pool: the suite forks processes, which must not share this engine's connections.
        self._admin = sqlalchemy.create_engine(self._server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._prefix = f"{SCHEMA_PREFIX}_{secrets.token_hex(SCHEMA_TOKEN_BYTES)}_"
        self._numbers = itertools.count()
        self._by_sqlite_url: dict[str, str] = {}
        self._storages: list[optuna.storages.RDBStorage] = []
        self.routed = 0  # SQLite URLs given a schema in all, for the run's summary

    def new_schema_url(self) -> str:
        """The URL of a new, empty schema (the server's URL with the schema as its search path)."""
        name = f"{self._prefix}{next(self._numbers)}"
        with self._admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{name}"'))
        url = self._server_url.update_query_dict({"options": f"-csearch_path={name}",
                                                   "application_name": self._prefix})
        return url.render_as_string(hide_password=False)

    def route(self, url: str) -> str | None:
        """The URL of the schema that stands for SQLite ``url``; None for a URL of another back end."""
        parsed = make_url(url)
        if parsed.get_backend_name() != SQLITE:
            return None
        self.routed += 1
        if parsed.database in (None, "", ":memory:"):
            return self.new_schema_url()
        if url not in self._by_sqlite_url:
            self._by_sqlite_url[url] = self.new_schema_url()
        return self._by_sqlite_url[url]

    def track(self, storage: optuna.storages.RDBStorage) -> None:
        """Close ``storage``'s connections at :meth:`reset`."""
        self._storages.append(storage)

    def reset(self) -> None:
        """Close the connections to the schemas made so far, then drop them.

        A test may leave a session open (a transaction holding locks that would block the
        drop): the tracked storages' sessions are closed and their pools emptied, and any
        connection to the schemas still open (another thread's session, a pickled copy's
        pool) is ended by the server.
        """
        for storage in self._storages:
            storage.remove_session()
            storage.engine.dispose()
        self._storages.clear()
        self._by_sqlite_url.clear()
        leftovers = sqlalchemy.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                    " WHERE application_name = :prefix AND pid <> pg_backend_pid()")
        schemas = sqlalchemy.text("SELECT schema_name FROM information_schema.schemata"
                                  " WHERE starts_with(schema_name, :prefix)")
        with self._admin.connect() as connection:
            connection.execute(leftovers, {"prefix": self._prefix})
            connection.execute(sqlalchemy.text(f"SET lock_timeout = '{DROP_LOCK_TIMEOUT}'"))
            for name in connection.execute(schemas, {"prefix": self._prefix}).scalars().all():
                connection.execute(sqlalchemy.text(f'DROP SCHEMA "{name}" CASCADE'))

    def close(self) -> None:
        """:meth:`reset`, then release the server."""
        self.reset()
        self._admin.dispose()


class RoutedTaggingStorage(TaggingStorage):
    """:class:`TaggingStorage` whose SQLite databases are PostgreSQL schemas (:attr:`router`).

    Nothing but the URL (and the SQLite driver's connect arguments, which psycopg does not
    take) differs from the class it extends. A module-level class, so that it pickles.
    """

    router: ClassVar[SchemaRouter | None] = None

    def __init__(self, url: str, engine_kwargs: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> None:
        router = type(self).router
        routed = router.route(url) if router is not None else None
        if routed is not None:
            url = routed
            engine_kwargs = {key: value for key, value in (engine_kwargs or {}).items() if key != "connect_args"}
        super().__init__(url, engine_kwargs, *args, **kwargs)
        if router is not None:
            router.track(self)

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        router = type(self).router
        if router is not None:
            router.track(self)


@dataclass
class _Run:
    """This run's settings, patches and what it left out."""

    backend: str
    storage_class: type[optuna.storages.RDBStorage]
    patches: pytest.MonkeyPatch
    router: SchemaRouter | None = None
    excluded: Counter[str] = field(default_factory=Counter)
    ignored_paths: dict[str, str] = field(default_factory=dict)


_RUN = pytest.StashKey[_Run]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(BACKEND_OPTION, choices=BACKENDS, default=SQLITE,
                     help=f"the database the storage class runs on ({POSTGRESQL}: the server at "
                          f"${POSTGRES_URL_ENV_VAR})")


def pytest_configure(config: pytest.Config) -> None:
    backend = config.getoption(BACKEND_OPTION)
    patches = pytest.MonkeyPatch()
    run = _Run(backend=backend, storage_class=TaggingStorage, patches=patches)
    if backend == POSTGRESQL:
        server_url = os.environ.get(POSTGRES_URL_ENV_VAR)
        if not server_url:
            raise pytest.UsageError(f"{BACKEND_OPTION}={POSTGRESQL} needs a server: set ${POSTGRES_URL_ENV_VAR}")
        run.router = SchemaRouter(server_url)
        patches.setattr(RoutedTaggingStorage, "router", run.router)
        run.storage_class = RoutedTaggingStorage
    config.stash[_RUN] = run
    # The suite's conftest does the same; the failing assertions of the shared test case then say why.
    pytest.register_assert_rewrite("optuna.testing.pytest_storages")
    if importlib.util.find_spec("fakeredis") is None:
        # optuna.testing.storages imports it for the journal_redis mode, which is left out.
        patches.setitem(sys.modules, "fakeredis", types.ModuleType("fakeredis"))
    for module in PATCHED_MODULES:
        patches.setattr(module, PATCHED_NAME, run.storage_class)


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_RUN, None)
    if run is None:
        return
    run.patches.undo()
    if run.router is not None:
        run.router.close()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    reason = EXCLUDED_PATHS.get(collection_path.name)
    if reason is None:
        return None
    config.stash[_RUN].ignored_paths[str(collection_path)] = reason
    return True


def exclusion(item: pytest.Item, *, backend: str) -> str | None:
    """Why ``item`` is left out of a pass on ``backend``; None if it runs."""
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    modes = {params[name] for name in MODE_PARAMETERS if isinstance(params.get(name), str)}
    if modes - RDB_MODES:
        return NON_RDB_MODE
    name = getattr(item, "originalname", item.name)
    if name in DELIBERATE_DIFFERENCES:
        return f"{name}: deliberate difference: {DELIBERATE_DIFFERENCES[name]}"
    if backend == SQLITE and item.path.name == SERVER_TESTS_MODULE:
        return SERVER_PASS_ONLY
    if backend == POSTGRESQL and name in SQLITE_FILE_TESTS:
        return f"{name}: {SQLITE_FILE_TESTS[name]}"
    if name == IMPORT_ERROR_TEST and (driver := _postgresql_default_driver()) != HIDDEN_DRIVER:
        return (f"{name}: hides {HIDDEN_DRIVER}, but SQLAlchemy {sqlalchemy.__version__} opens postgresql:// "
                f"with {driver}, which is installed (fails with Optuna's own RDBStorage too)")
    return None


def _postgresql_default_driver() -> str:
    """The driver SQLAlchemy opens a ``postgresql://`` URL with."""
    return str(make_url("postgresql://").get_dialect().driver)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = config.stash[_RUN]
    kept, left_out = [], []
    for item in items:
        reason = exclusion(item, backend=run.backend)
        if reason is None:
            kept.append(item)
        else:
            left_out.append(item)
            run.excluded[reason] += 1
        bound = getattr(getattr(item, "module", None), PATCHED_NAME, run.storage_class)
        if bound is not run.storage_class:
            raise pytest.UsageError(f"{item.nodeid} builds storages with {bound!r}, not {run.storage_class!r}: "
                                    "its module was imported before this plugin patched Optuna")
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


@pytest.fixture(autouse=True)
def _contract_databases(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """On PostgreSQL: a fresh schema for Optuna's server tests, and every schema dropped after each test."""
    router = request.config.stash[_RUN].router
    if router is not None and request.node.path.name == SERVER_TESTS_MODULE:
        monkeypatch.setenv(SERVER_URL_ENV_VAR, router.new_schema_url())
    yield
    if router is not None:
        router.reset()


def pytest_report_header(config: pytest.Config) -> str:
    run = config.stash[_RUN]
    return (f"Optuna {optuna.__version__} storage suite against "
            f"{TaggingStorage.__module__}.{TaggingStorage.__qualname__} on {run.backend}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash[_RUN]
    if run.router is not None:
        terminalreporter.write_line(f"{run.router.routed} storages of the suite on SQLite URLs ran on PostgreSQL "
                                    "schemas instead")
    terminalreporter.write_sep("=", f"left out of Optuna's storage suite ({run.backend} pass)")
    for path, reason in sorted(run.ignored_paths.items()):
        terminalreporter.write_line(f"not collected: {Path(path).name}: {reason}")
    for reason, count in sorted(run.excluded.items()):
        terminalreporter.write_line(f"{count:4d} test{'s' if count != 1 else ''} deselected: {reason}")
