"""Worker processes that stand for separate hosts: each with its own temporary directory, started cheaply."""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from multiprocessing.context import BaseContext

from studies.store.storage import mask_url

# What the fork server imports once, so that each worker starts in a fraction of a second:
# the third-party modules that the product and Optuna's database storage import. (Not the
# product itself: Python 3.11's fork server imports these before it takes the test
# process's sys.path, so it could find the product in another checkout.)
PRELOAD = ["mealpy", "scipy.stats", "pandas", "matplotlib.pyplot", "optuna", "optuna.storages._rdb.models",
           "alembic.command", "alembic.config", "alembic.migration", "alembic.script",
           "sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.sqlite", "psycopg"]
# Seconds to wait for a worker to start, finish, or reach a synchronisation point that it must reach.
DEADLINE_S = 30


class SecretUrl(str):
    """A storage URL whose password stays out of test reports (pytest prints a failing test's arguments)."""

    def __repr__(self) -> str:
        return repr(mask_url(self))


def host_processes() -> BaseContext:
    """Processes forked from a server that imported the product once (nothing of the test process)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def become_host(tmpdir: str) -> None:
    """Give this process the temporary directory ``tmpdir``, as a separate host has its own."""
    os.environ["TMPDIR"] = tmpdir
    tempfile.tempdir = None  # forget the one computed before
    if tempfile.gettempdir() != tmpdir:
        raise RuntimeError(f"the temporary directory is {tempfile.gettempdir()}, not {tmpdir}")


def finish(processes: list) -> list[int | None]:
    """Join ``processes`` (killing any still running after the deadline); their exit codes."""
    for process in processes:
        process.join(timeout=DEADLINE_S)
        if process.is_alive():
            process.kill()
            process.join()
    return [process.exitcode for process in processes]
