from __future__ import annotations

import os

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


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'studies.db'}"
