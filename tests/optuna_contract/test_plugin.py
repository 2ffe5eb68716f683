"""The plugin that runs Optuna's storage suite against TaggingStorage: what it leaves out,
and how it moves the suite's SQLite databases onto PostgreSQL.

The suite itself runs in CI (``.ci/optuna-storage-suite``, called by ``.ci/run``).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy
from optuna.study import StudyDirection

from studies.store.storage import TaggingStorage
from tests.optuna_contract.plugin import (
    NON_RDB_MODE,
    POSTGRESQL,
    SERVER_PASS_ONLY,
    SQLITE,
    RoutedTaggingStorage,
    SchemaRouter,
    exclusion,
)


def _item(name, *, module="test_storages.py", **params):
    """What :func:`exclusion` reads of a collected test."""
    return SimpleNamespace(name=name, originalname=name, path=Path("optuna_tests", "storages_tests", module),
                           callspec=SimpleNamespace(params=params) if params else None)


@pytest.mark.parametrize("backend", [SQLITE, POSTGRESQL])
@pytest.mark.parametrize("mode", ["inmemory", "journal", "journal_redis", "grpc_journal_file"])
def test_storage_modes_without_an_rdb_storage_are_left_out(backend, mode):
    assert exclusion(_item("test_get_trial", storage=mode), backend=backend) == NON_RDB_MODE
    assert exclusion(_item("test_fail_stale_trials_with_optimize", module="test_heartbeat.py", storage_mode=mode),
                     backend=backend) == NON_RDB_MODE


@pytest.mark.parametrize("backend", [SQLITE, POSTGRESQL])
@pytest.mark.parametrize("mode", ["sqlite", "cached_sqlite", "grpc_rdb"])
def test_rdb_storage_modes_run_on_both_back_ends(backend, mode):
    assert exclusion(_item("test_get_trial", storage=mode), backend=backend) is None
    assert exclusion(_item("test_get_trial"), backend=backend) is None  # not parametrized by mode


def test_the_server_tests_run_in_the_postgresql_pass_only():
    server_test = _item("test_multiprocess_run_optimize", module="test_with_server.py")
    assert exclusion(server_test, backend=SQLITE) == SERVER_PASS_ONLY
    assert exclusion(server_test, backend=POSTGRESQL) is None


@pytest.mark.parametrize("name", ["test_upgrade_distributions", "test_init_url_template"])
def test_tests_of_sqlite_files_run_in_the_sqlite_pass_only(name):
    test = _item(name, module="test_storage.py")
    assert exclusion(test, backend=SQLITE) is None
    assert name in exclusion(test, backend=POSTGRESQL)


def _schemas(server_url):
    engine = sqlalchemy.create_engine(server_url)
    try:
        with engine.connect() as connection:
            return set(connection.execute(sqlalchemy.text("SELECT schema_name FROM information_schema.schemata"))
                       .scalars())
    finally:
        engine.dispose()


def _studies(storage):
    return [study.study_name for study in storage.get_all_studies()]


@pytest.mark.postgres
def test_sqlite_databases_become_postgresql_schemas_dropped_at_reset(postgres_server_url, monkeypatch, tmp_path):
    before = _schemas(postgres_server_url)
    router = SchemaRouter(postgres_server_url)
    monkeypatch.setattr(RoutedTaggingStorage, "router", router)
    file_url = f"sqlite:///{tmp_path / 'suite.db'}"
    try:
        # As StorageSupplier opens them: with the SQLite driver's connect arguments.
        first = RoutedTaggingStorage(file_url, engine_kwargs={"connect_args": {"timeout": 300}})
        again = RoutedTaggingStorage(file_url)
        memory = RoutedTaggingStorage("sqlite:///:memory:")
        first.create_new_study(directions=[StudyDirection.MINIMIZE], study_name="shared")

        assert isinstance(first, TaggingStorage)
        assert {first.engine.dialect.name, memory.engine.dialect.name} == {"postgresql"}
        assert not (tmp_path / "suite.db").exists()
        assert _studies(again) == ["shared"]  # one SQLite file: one schema
        assert _studies(memory) == []  # every in-memory database is a new schema
        assert len(_schemas(postgres_server_url) - before) == 2
        assert router.route(postgres_server_url) is None  # other back ends are left alone
        # The suite pickles storages; the copy stays on its schema.
        assert _studies(pickle.loads(pickle.dumps(first))) == ["shared"]

        # A test that leaves a transaction open (Optuna's test_init does) does not block the drop.
        session = memory.scoped_session()
        session.execute(sqlalchemy.text("SELECT count(*) FROM studies")).scalar_one()
        router.reset()

        assert _schemas(postgres_server_url) == before
        assert _studies(RoutedTaggingStorage(file_url)) == []  # after a reset, the same file is a fresh schema
    finally:
        router.close()
    assert _schemas(postgres_server_url) == before
