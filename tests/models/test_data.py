from __future__ import annotations

import numpy as np
import pytest

from models import data as data_module
from models.data import content_digest, load_mnist, resolve_source, stratified_split
from models.errors import ConfigError, DataError
from tests.helpers import write_mnist_dir


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch, tmp_path):
    data_module._load_cached.cache_clear()
    monkeypatch.delenv("MNIST_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    yield
    data_module._load_cached.cache_clear()


def _check_split(split, n):
    assert split.x.shape == (n, 28, 28) and split.x.dtype == np.float32
    assert split.y.shape == (n,) and split.y.dtype == np.int32
    assert 0.0 <= split.x.min() and split.x.max() <= 1.0
    assert set(np.unique(split.y)) <= set(range(10))


@pytest.mark.parametrize("compress", [True, False])
def test_idx_directory(tmp_path, compress):
    write_mnist_dir(tmp_path, n_train=200, n_test=50, compress=compress)
    data = load_mnist(str(tmp_path), val_fraction=0.1)
    _check_split(data.train, 180)
    _check_split(data.val, 20)
    _check_split(data.test, 50)
    assert np.bincount(data.val.y, minlength=10).tolist() == [2] * 10  # stratified
    assert data.source == "idx"


def test_the_digest_identifies_the_digits_whatever_the_file_format_or_place(tmp_path):
    (tmp_path / "gz").mkdir()
    (tmp_path / "raw").mkdir()
    (tmp_path / "other").mkdir()
    write_mnist_dir(tmp_path / "gz", compress=True)
    write_mnist_dir(tmp_path / "raw", compress=False)
    write_mnist_dir(tmp_path / "other", n_train=210)
    gz, raw, other = (load_mnist(str(tmp_path / d)) for d in ("gz", "raw", "other"))
    assert gz.sha256 == raw.sha256 and len(gz.sha256) == 64
    assert other.sha256 != gz.sha256
    assert str(tmp_path) not in repr(gz.describe())


def test_split_is_seeded_and_disjoint(tmp_path):
    write_mnist_dir(tmp_path)
    a = load_mnist(str(tmp_path), split_seed=1)
    b = load_mnist(str(tmp_path), split_seed=1)
    c = load_mnist(str(tmp_path), split_seed=2)
    assert a is b  # cached: loaded once per process
    np.testing.assert_array_equal(a.val.x, b.val.x)
    assert not np.array_equal(a.val.x, c.val.x)
    train_rows = {row.tobytes() for row in a.train.x}
    assert not any(row.tobytes() in train_rows for row in a.val.x)


def test_arrays_are_read_only(tmp_path):
    write_mnist_dir(tmp_path)
    data = load_mnist(str(tmp_path))
    with pytest.raises(ValueError):
        data.train.x[0, 0, 0] = 1.0


def test_npz_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=rng.integers(0, 256, (100, 28, 28), dtype=np.uint8), y_train=np.arange(100) % 10,
             x_test=rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), y_test=np.arange(30) % 10)
    data = load_mnist(str(path))
    with np.load(path) as arrays:
        digest = content_digest(*(arrays[k] for k in ("x_train", "y_train", "x_test", "y_test")))
    assert data.describe() == {"source": "npz", "sha256": digest, "train": 90, "val": 10, "test": 30}


def test_npz_missing_arrays(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=np.zeros((2, 28, 28)))
    with pytest.raises(DataError, match="lacks the array"):
        load_mnist(str(path))


def test_embedded_mnist_5k():
    data = load_mnist("mnist-5k")
    assert data.describe() == {"source": "mnist-5k", "sha256": data.sha256, "train": 3600, "val": 400, "test": 1000}
    assert np.bincount(data.test.y).tolist() == [100] * 10
    assert np.bincount(data.val.y).tolist() == [40] * 10
    _check_split(data.train, 3600)


def test_auto_prefers_env_var_then_keras_cache_then_embedded(tmp_path, monkeypatch):
    assert resolve_source("auto") == "mnist-5k"
    cache = tmp_path / "keras-home" / "datasets" / "mnist.npz"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"")
    assert resolve_source("auto") == str(cache)
    monkeypatch.setenv("MNIST_DATA", str(tmp_path / "elsewhere"))
    assert resolve_source("auto") == str(tmp_path / "elsewhere")


def test_auto_loads_from_env_var(tmp_path, monkeypatch):
    write_mnist_dir(tmp_path)
    monkeypatch.setenv("MNIST_DATA", str(tmp_path))
    assert load_mnist("auto").sha256 == load_mnist(str(tmp_path)).sha256


def test_keras_source_failure_is_a_clear_error(monkeypatch):
    import keras

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DataError, match="load_data\\(\\) failed .*mnist-5k"):
        load_mnist("keras")


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_mnist(str(tmp_path / "nowhere"))


def test_directory_without_files(tmp_path):
    with pytest.raises(DataError, match="has no train-images-idx3-ubyte.gz"):
        load_mnist(str(tmp_path))


def test_truncated_file_in_directory(tmp_path):
    write_mnist_dir(tmp_path, compress=False)
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte is truncated"):
        load_mnist(str(tmp_path))


def test_labels_out_of_range(tmp_path):
    write_mnist_dir(tmp_path, compress=False)
    from tests.helpers import write_idx

    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(200, 12), magic=2049, compress=False)
    with pytest.raises(DataError, match="labels range over \\[12, 12\\]"):
        load_mnist(str(tmp_path))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5])
def test_bad_validation_fraction(fraction):
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        load_mnist("mnist-5k", val_fraction=fraction)


def test_stratified_split_exact_total():
    labels = np.repeat(np.arange(10), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    rest, held = stratified_split(labels, fraction=0.1, rng=np.random.default_rng(0))
    assert len(held) == 6000 and len(rest) == 54000


def test_full_mnist(shared_mnist):
    data = load_mnist(str(shared_mnist))
    assert data.describe()["train"] == 54000 and len(data.val) == 6000 and len(data.test) == 10000


def test_a_relative_path_read_from_another_directory_is_not_answered_from_the_cache(tmp_path, monkeypatch):
    for place, n_train in (("a", 200), ("b", 210)):
        (tmp_path / place / "mnist").mkdir(parents=True)
        write_mnist_dir(tmp_path / place / "mnist", n_train=n_train)
    monkeypatch.chdir(tmp_path / "a")
    first = load_mnist("mnist")
    monkeypatch.chdir(tmp_path / "b")
    assert len(load_mnist("mnist").train) != len(first.train)
