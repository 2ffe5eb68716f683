"""The study's lock is the database's: one for every spelling of the URL, gone with its holder."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from types import SimpleNamespace

import optuna
import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from models.errors import ConfigError
from studies.store.locks import (
    KEEPALIVE_COUNT,
    KEEPALIVE_IDLE_S,
    KEEPALIVE_INTERVAL_S,
    RELEASE_BOUND_S,
    engine_lock,
    lock_key,
    study_lock,
)
from tests.studies.store.hosts import DEADLINE_S, SecretUrl, become_host, finish, host_processes

# How long an acquire that must block is watched before it counts as blocked.
BLOCKED_S = 1.0
# How soon the lock of a killed holder must be free again.
FREED_WITHIN_S = 3.0


def _lock(url, study_name="s"):
    return engine_lock(engine=sqlalchemy.create_engine(url), study_name=study_name)


def _sqlite_spellings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel").mkdir()
    return "sqlite:///rel/path.db", f"sqlite:///{tmp_path / 'rel' / 'path.db'}"


# Two names of this host; a server elsewhere is named a second way by a connection option.
LOCAL_HOST_NAMES = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}


def _postgres_spellings(pg_url):
    url = make_url(pg_url)
    other = (url.set(host=LOCAL_HOST_NAMES[url.host]) if url.host in LOCAL_HOST_NAMES
             else url.update_query_dict({"connect_timeout": "10"}))
    return pg_url, SecretUrl(other.render_as_string(hide_password=False))


@pytest.fixture
def pg_url(postgres_url):
    """The PostgreSQL server's database (its password masked in reports)."""
    return SecretUrl(postgres_url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def spellings(request, tmp_path, monkeypatch):
    """Two spellings of one database's URL: a relative and an absolute SQLite path; two names of the PostgreSQL host."""
    if request.param == "sqlite":
        return _sqlite_spellings(tmp_path, monkeypatch)
    return _postgres_spellings(request.getfixturevalue("pg_url"))


def _acquire_and_signal(url, study_name, cwd, tmpdir, acquired, done):
    """Another host's worker: take the lock of ``study_name`` at ``url`` (relative to ``cwd``), say so, hold it."""
    become_host(tmpdir)
    os.chdir(cwd)
    lock = _lock(url, study_name)
    lock.acquire()
    acquired.set()
    done.wait(timeout=DEADLINE_S)
    lock.release()


def _other_host(tmp_path, url, study_name="s"):
    """A process, on a host of its own, that takes the lock at ``url``; with its `acquired` and `done` events."""
    context = host_processes()
    acquired, done = context.Event(), context.Event()
    tmpdir = tmp_path / f"host-{study_name}"
    tmpdir.mkdir()
    process = context.Process(target=_acquire_and_signal,
                              args=(url, study_name, os.getcwd(), str(tmpdir), acquired, done))
    process.start()
    return process, acquired, done


def test_every_spelling_of_the_database_takes_the_same_lock(spellings, tmp_path):
    first, second = spellings
    lock = _lock(first)
    lock.acquire()
    other, acquired, done = _other_host(tmp_path, second)
    try:
        assert not acquired.wait(timeout=BLOCKED_S), "the second spelling got the lock that the first held"
        lock.release()
        assert acquired.wait(timeout=DEADLINE_S), "the lock was not passed on once released"
    finally:
        lock.release()
        done.set()
        exit_codes = finish([other])
    assert exit_codes == [0]


@pytest.mark.postgres
def test_another_study_has_another_lock(pg_url, tmp_path):
    """(A SQLite file has one lock for all its studies: SQLite writes one at a time anyway.)"""
    first, second = _postgres_spellings(pg_url)
    lock = _lock(first, "s")
    lock.acquire()
    other, acquired, done = _other_host(tmp_path, second, "t")
    try:
        assert acquired.wait(timeout=DEADLINE_S), "the lock of study t waited for study s"
    finally:
        lock.release()
        done.set()
        exit_codes = finish([other])
    assert exit_codes == [0]


def test_the_sqlite_lock_is_beside_the_database_file(tmp_path, monkeypatch):
    relative, absolute = _sqlite_spellings(tmp_path, monkeypatch)
    assert _lock(relative, "s").path == _lock(absolute, "t").path == tmp_path / "rel" / "path.db.lock"


def test_a_killed_holder_frees_the_lock(spellings, tmp_path):
    first, _ = spellings
    holder, acquired, _ = _other_host(tmp_path, first)
    try:
        assert acquired.wait(timeout=DEADLINE_S)
        lock = _lock(first)
        waiter = threading.Thread(target=lock.acquire, daemon=True)
        waiter.start()
        waiter.join(timeout=BLOCKED_S)
        assert waiter.is_alive(), "the lock was free while the holder lived"
        os.kill(holder.pid, signal.SIGKILL)
        start = time.monotonic()
        waiter.join(timeout=FREED_WITHIN_S)
        assert not waiter.is_alive(), f"the lock was still held {time.monotonic() - start:.1f} s after its holder died"
        lock.release()
    finally:
        holder.kill()
        holder.join()


@pytest.mark.postgres
def test_the_postgres_lock_session_probes_a_silent_peer(pg_url):
    lock = _lock(pg_url)
    lock.acquire()
    try:
        connection = lock._connection
        names = ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count", "tcp_user_timeout")
        server = {name: connection.exec_driver_sql(f"SELECT current_setting('{name}')").scalar() for name in names}
        bound_ms = str(RELEASE_BOUND_S * 1000)
        assert server == dict(zip(names, (str(KEEPALIVE_IDLE_S), str(KEEPALIVE_INTERVAL_S), str(KEEPALIVE_COUNT),
                                          bound_ms), strict=True))
        client = connection.connection.dbapi_connection.info.get_parameters()
        assert [client[name.removeprefix("tcp_")] for name in names[:3]] + [client["tcp_user_timeout"]] == [
            str(KEEPALIVE_IDLE_S), str(KEEPALIVE_INTERVAL_S), str(KEEPALIVE_COUNT), bound_ms]
        assert RELEASE_BOUND_S == 25  # what the docstrings promise
        held = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
        ).scalar()
        assert held == 1
    finally:
        lock.release()


@pytest.mark.postgres
def test_the_postgres_lock_keeps_its_session_and_replaces_one_the_server_closed(pg_url):
    lock, watcher = _lock(pg_url), sqlalchemy.create_engine(pg_url)
    holders = "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid IS NOT NULL AND granted"
    lock.acquire()
    first = lock._connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    lock.release()
    with watcher.connect() as connection:
        assert connection.exec_driver_sql(holders).scalars().all() == []  # released, session kept
    lock.acquire()
    assert lock._connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() == first  # no new connection
    lock.release()
    with watcher.connect() as connection:
        connection.execute(sqlalchemy.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    lock.acquire()  # the idle session is gone: a new one takes the lock
    try:
        second = lock._connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with watcher.connect() as connection:
            assert second != first and connection.exec_driver_sql(holders).scalars().all() == [second]
    finally:
        lock.close()
        watcher.dispose()


def test_the_lock_key_is_a_stable_bigint_of_the_study_name_only():
    """Stable across processes and releases: workers of two versions must meet at one lock."""
    assert lock_key("s") == 0x7B56E56BFF5095F3 != lock_key("t")
    assert all(0 <= lock_key(name) < 2**63 for name in ("", "s", "t", "a" * 1000))


def test_an_unsupported_back_end_is_named():
    engine = SimpleNamespace(url=make_url("oracle+oracledb://scott:tiger@db.example/orcl"))
    with pytest.raises(ConfigError) as caught:
        engine_lock(engine=engine, study_name="s")
    message = str(caught.value)
    assert "'oracle'" in message and "PostgreSQL or SQLite" in message and "tiger" not in message


def test_a_storage_that_is_not_a_database_is_refused():
    with pytest.raises(ConfigError, match="InMemoryStorage"):
        study_lock(storage=optuna.storages.InMemoryStorage(), study_name="s")


def test_an_in_memory_sqlite_database_is_refused():
    with pytest.raises(ConfigError, match="in memory"):
        _lock("sqlite://")


def test_a_lock_file_that_cannot_be_made_is_a_config_error(tmp_path):
    not_a_directory = tmp_path / "plain-file"
    not_a_directory.write_text("")
    with pytest.raises(ConfigError, match=re.escape(str(not_a_directory / "x.db.lock"))):
        _lock(f"sqlite:///{not_a_directory / 'x.db'}").acquire()
