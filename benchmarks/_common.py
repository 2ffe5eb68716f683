"""What every benchmark script shares: the machine line, the untimed warm-up, writing results."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

WARM_UP_SAMPLES = 1024
WARM_UP_BATCH = 128


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def source_commit() -> str:
    """The checkout's commit, with ``+changes`` when files git tracks differ from it ("unknown" outside git)."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def machine_line() -> str:
    return f"Machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}"


def warm_up(data, params: dict | None = None) -> None:
    """An untimed short fit, so the first timed run does not pay TensorFlow's one-time set-up."""
    import keras

    from models.lstm import build_model

    x, y = data.train.x[:WARM_UP_SAMPLES], data.train.y[:WARM_UP_SAMPLES]
    build_model(params or {}).fit(x, y, batch_size=WARM_UP_BATCH, epochs=1, validation_data=(x, y), verbose=0)
    keras.backend.clear_session()


def write_results(path: str | Path, lines: list[str]) -> None:
    """Write the result lines to ``path`` (markdown) and print them."""
    text = "\n".join(lines) + "\n"
    Path(path).write_text(text)
    print(text, end="")
