from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.helpers import SHARED_MNIST  # noqa: E402


@pytest.fixture
def shared_mnist():
    """The full original MNIST beside the checkout; tests that need it skip without it."""
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"full MNIST not found at {SHARED_MNIST}")
    return SHARED_MNIST


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'studies.db'}"
