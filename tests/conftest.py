from __future__ import annotations

import os

import optuna
import pytest
from hypothesis import settings

from tests.helpers import SHARED_MNIST

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# CI runs the property tests on a fixed sequence of examples, so a red CI is always
# reproducible; a local run explores new examples each time (and keeps failures in
# .hypothesis/ to replay first).
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")



@pytest.fixture
def shared_mnist():
    """The full original MNIST beside the checkout; tests that need it skip without it."""
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"full MNIST not found at {SHARED_MNIST}")
    return SHARED_MNIST


# The tests that need a PostgreSQL server read its URL (password included) from this
# variable; .ci/run starts a throwaway server and sets it (see .ci/postgres).
POSTGRES_URL_ENV_VAR = "LSTM_TUNER_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_server_url():
    """The URL of a throwaway PostgreSQL server's database; skip without one."""
    url = os.environ.get(POSTGRES_URL_ENV_VAR)
    if not url:
        pytest.skip(f"no PostgreSQL server: set ${POSTGRES_URL_ENV_VAR} (.ci/run starts one with .ci/postgres)")
    return url


@pytest.fixture
def postgres_url(postgres_server_url):
    """``postgres_server_url`` with the studies the test made removed after it, so tests do not
    see each other's (and tests running at the same time keep theirs)."""
    storage = optuna.storages.RDBStorage(postgres_server_url)
    before = set(optuna.get_all_study_names(storage))
    yield postgres_server_url
    for name in set(optuna.get_all_study_names(storage)) - before:
        optuna.delete_study(study_name=name, storage=storage)
    storage.remove_session()
    storage.engine.dispose()


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'studies.db'}"
