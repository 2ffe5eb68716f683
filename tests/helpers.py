"""Shared test helpers: a cheap analytic objective, tiny data, synthetic IDX files."""

from __future__ import annotations

import contextlib
import gzip
import math
import signal
import sqlite3
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import optuna

from models.data import MnistData, Split
from search.failures import DIVERGED, FAIL_KIND_ATTR
from search.objective import TrialFailed
from search.schedulers import CHECKPOINT_ATTR, EPOCHS_RUN_ATTR, Segment
from search.space import DEFAULT_SPACE, SearchSpace

ROOT = Path(__file__).resolve().parents[1]  # the checkout
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"


class AnalyticObjective:
    """A smooth function of the default space's parameters with its peak at a known point."""

    worst_value: ClassVar[float] = 0.0

    def __init__(self, space: SearchSpace = DEFAULT_SPACE, *, fail_when=None) -> None:
        self.space = space
        self.calls = 0
        self._fail_when = fail_when

    def __call__(self, trial: optuna.Trial) -> float:
        p = self.space.suggest(trial)
        self.calls += 1
        if self._fail_when is not None and self._fail_when(p):
            trial.set_user_attr("fail_reason", "injected failure")
            trial.set_user_attr(FAIL_KIND_ATTR, DIVERGED)  # the configuration's own failure
            raise TrialFailed("injected failure")
        score = 0.0
        for d in self.space:
            value = p[d.name]
            if d.kind == "categorical":
                score += d.choices.index(value)
                continue
            lo, hi = (math.log(d.low), math.log(d.high)) if d.log else (d.low, d.high)
            x = math.log(value) if d.log else value
            score += ((x - (lo + hi) / 2) / (hi - lo)) ** 2
        return 1.0 / (1.0 + score)


def write_idx(path: Path, array: np.ndarray, *, magic: int, compress: bool) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)


def write_mnist_dir(directory: Path, *, n_train: int = 200, n_test: int = 50, compress: bool = True) -> None:
    """Four IDX files of random digits, every class present, under the original names."""
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28))
        labels = np.arange(n) % 10
        write_idx(directory / f"{stem}-images-idx3-ubyte{suffix}", images, magic=2051, compress=compress)
        write_idx(directory / f"{stem}-labels-idx1-ubyte{suffix}", labels, magic=2049, compress=compress)


def tiny_data(n_train: int = 300, n_val: int = 100) -> MnistData:
    """A small slice of the embedded digits, for training real (tiny) LSTMs fast."""
    from models.data import load_mnist

    full = load_mnist("mnist-5k")
    rng = np.random.default_rng(0)
    train_idx = rng.choice(len(full.train), n_train, replace=False)
    val_idx = rng.choice(len(full.val), n_val, replace=False)
    return MnistData(
        source="tiny",
        sha256=f"{full.sha256}:tiny",
        train=Split(full.train.x[train_idx], full.train.y[train_idx]),
        val=Split(full.val.x[val_idx], full.val.y[val_idx]),
        test=full.test,
    )


TINY_SPACE_TOML = """
[dimensions.units]
type = "int"
low = 4
high = 8

[dimensions.learning_rate]
type = "float"
low = 0.001
high = 0.01
log = true
"""


def tiny_space_file(directory: Path) -> Path:
    """A space of one small LSTM layer: trials on mnist-5k take about a second."""
    path = directory / "tiny.toml"
    path.write_text(TINY_SPACE_TOML)
    return path


@contextlib.contextmanager
def sigint_as_in_a_terminal() -> Iterator[None]:
    """Within the block, Ctrl-C raises ``KeyboardInterrupt`` here, and processes started here get it by default.

    A suite started with SIGINT ignored (``nohup``, ``cmd &`` without job control, some CI
    runners) passes that on to every child, and the product rightly leaves an ignored SIGINT
    ignored. Tests of what Ctrl-C does enter this block: Python's own handler is installed
    for its duration, and since ``exec`` resets a handled signal to its default, a process
    started inside it (``subprocess.Popen``) begins as one started from a terminal.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is not None:  # None: a handler installed outside Python, which Python cannot put back
            signal.signal(signal.SIGINT, previous)


def wait_for(predicate, timeout, interval=0.2):
    """Poll ``predicate`` every ``interval`` s until it returns something truthy (returned)
    or ``timeout`` s pass (None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def trial_states(db: Path) -> list[str]:
    """The states of the trials in the SQLite store ``db``, by number ([] while it is not ready)."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return [row[0] for row in conn.execute("SELECT state FROM trials ORDER BY number")]
    except sqlite3.OperationalError:
        return []


class SegmentedObjective(AnalyticObjective):
    """:class:`AnalyticObjective` trained in segments, as the LSTM objective is: it reports
    one value per epoch of its trial's segment, records the epochs it ran and a stand-in
    checkpoint, and scores ``analytic + end epoch`` so a value tells the fidelity it was
    measured at (a rung-0 value of a study with first rung 1 lies in [1, 2))."""

    def __init__(self, rungs, space: SearchSpace = DEFAULT_SPACE, **kwargs) -> None:
        super().__init__(space, **kwargs)
        self.rungs = rungs
        self.epochs_trained = 0

    def __call__(self, trial: optuna.Trial) -> float:
        segment = Segment.of(trial, self.rungs)
        value = super().__call__(trial)
        for epoch in range(segment.start + 1, segment.end + 1):
            trial.report(value + epoch, step=epoch)
            self.epochs_trained += 1
            if epoch < segment.end and trial.should_prune():  # as the LSTM's epoch watcher does
                trial.set_user_attr(EPOCHS_RUN_ATTR, epoch - segment.start)
                raise optuna.TrialPruned()
        trial.set_user_attr(EPOCHS_RUN_ATTR, segment.epochs)
        trial.set_user_attr(CHECKPOINT_ATTR, f"checkpoint-of-{trial.number}")
        return value + segment.end
