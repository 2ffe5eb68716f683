"""Memory over many trials: does resident memory stay flat?

0. Trains the same tiny model N times with bare Keras (build, fit, ``clear_session``,
   ``gc.collect``) and reads VmRSS after each: what TensorFlow itself leaks per model.
1. Runs N tiny trials (one LSTM layer of 4-8 units, 300 training samples) of a TPE study
   in this process and reads the resident set size (VmRSS) after each: the growth per
   trial, fitted after a warm-up, is what TensorFlow leaks per trained model.
2. Runs ``launch`` through the CLI for N tiny trials on mnist-5k, once with worker
   processes never replaced (``--recycle-every 0``) and once with the default, and reads
   the peak RSS of the largest process of each run (``ru_maxrss`` of its children).

    python benchmarks/memory.py --trials 50
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._common import machine_line, write_results  # noqa: E402

WARM_UP_TRIALS = 10
LIMIT_MB_PER_TRIAL = 2.0
TINY_SPACE_TOML = (
    '[dimensions.units]\ntype = "int"\nlow = 4\nhigh = 8\n\n'
    '[dimensions.learning_rate]\ntype = "float"\nlow = 0.001\nhigh = 0.01\nlog = true\n'
)
TINY_SPACE = {"dimensions": {
    "units": {"type": "int", "low": 4, "high": 8},
    "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
}}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def bare_keras_growth(trials: int, data) -> float:
    """MB of resident memory per model that bare Keras keeps after fit + clear_session + gc."""
    import gc

    import keras

    from models.lstm import build_model

    readings = []
    for _ in range(trials):
        keras.backend.clear_session()
        model = build_model({"units": 6})
        model.fit(data.train.x, data.train.y, batch_size=64, epochs=1, validation_data=(data.val.x, data.val.y),
                  verbose=0)
        del model
        gc.collect()
        readings.append(rss_mb())
    return slope(readings)


def slope(readings: list[float]) -> float:
    """Least-squares growth per step after the warm-up steps."""
    x = np.arange(WARM_UP_TRIALS, len(readings))
    return float(np.polyfit(x, np.array(readings[WARM_UP_TRIALS:]), 1)[0])


def peak_rss_of_launch(trials: int, recycle_every: int, directory: Path) -> float:
    """Peak RSS (MB) of the largest process of one CLI launch, measured from a wrapper process."""
    space = directory / "tiny.toml"
    space.write_text(TINY_SPACE_TOML)
    cmd = [sys.executable, str(ROOT / "run_search.py"), "-q", "launch", "--study", f"m{recycle_every}", "--trials",
           str(trials), "--epochs", "1", "--data", "mnist-5k", "--space", str(space), "--recycle-every",
           str(recycle_every), "--storage", f"sqlite:///{directory / f'm{recycle_every}.db'}"]
    wrapper = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "memory.md"))
    args = parser.parse_args()

    import optuna

    from search.objective import LstmObjective, TrainSettings
    from search.optimizers import create_optimizer
    from search.space import SearchSpace
    from studies.launch import DEFAULT_RECYCLE_EVERY, run_study
    from tests.helpers import tiny_data

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bare = bare_keras_growth(args.trials, tiny_data())
    readings: list[float] = []
    objective = LstmObjective(data=tiny_data(), space=SearchSpace.from_dict(TINY_SPACE),
                              settings=TrainSettings(epochs=1, batch_size=64), seed=0)
    study = optuna.create_study(direction="maximize")
    run_study(study=study, optimizer=create_optimizer("tpe", seed=0, budget=args.trials), objective=objective,
              budget=args.trials, callbacks=[lambda s, t: readings.append(rss_mb())])
    with tempfile.TemporaryDirectory() as tmp:
        peaks = {k: peak_rss_of_launch(args.trials, k, Path(tmp)) for k in (0, DEFAULT_RECYCLE_EVERY)}
    growth = slope(readings)
    lines = [
        "# Memory over many trials in one process",
        "",
        f"Command: `python benchmarks/memory.py --trials {args.trials}`",
        machine_line(),
        "",
        f"Resident memory after trial 1: {readings[0]:.1f} MB; after trial {WARM_UP_TRIALS}: "
        f"{readings[WARM_UP_TRIALS - 1]:.1f} MB; after trial {len(readings)}: {readings[-1]:.1f} MB.",
        f"Growth per trial after the first {WARM_UP_TRIALS} (least-squares slope): {growth:.3f} MB "
        f"(limit {LIMIT_MB_PER_TRIAL} MB): {'within' if growth < LIMIT_MB_PER_TRIAL else 'OVER'} the limit.",
        f"Bare Keras, same tiny model {args.trials} times (build, fit, clear_session, gc.collect): "
        f"{bare:.3f} MB per model. The growth is TensorFlow's; the product bounds it by replacing worker "
        f"processes every {DEFAULT_RECYCLE_EVERY} trials (below).",
        "",
        "RSS (MB) after each trial: " + ", ".join(f"{r:.0f}" for r in readings),
        "",
        f"Through the CLI, {args.trials} tiny trials on mnist-5k (peak RSS of the largest process):",
        "",
        "| worker processes | peak RSS (MB) |",
        "|---|---|",
        f"| never replaced (`--recycle-every 0`) | {peaks[0]:.0f} |",
        f"| replaced every {DEFAULT_RECYCLE_EVERY} trials (default) | {peaks[DEFAULT_RECYCLE_EVERY]:.0f} |",
    ]
    write_results(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
