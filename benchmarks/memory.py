"""Memory over many trials in one process: does resident memory stay flat?

Runs N tiny trials (one LSTM layer of 4-8 units, 300 training samples) of a TPE study in
this process, the way ``launch`` does, and reads the resident set size (VmRSS from
/proc/self/status) after each. Prints and records the growth per trial, fitted over the
trials after a warm-up (the first trials pay TensorFlow's one-time allocations).

    python benchmarks/memory.py --trials 50
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._common import machine_line, write_results  # noqa: E402

WARM_UP_TRIALS = 10
LIMIT_MB_PER_TRIAL = 2.0
TINY_SPACE = {"dimensions": {
    "units": {"type": "int", "low": 4, "high": 8},
    "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
}}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "memory.md"))
    args = parser.parse_args()

    import optuna

    from search.objective import LstmObjective, TrainSettings
    from search.optimizers import create_optimizer
    from search.space import SearchSpace
    from studies.launch import run_study
    from tests.helpers import tiny_data

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    readings: list[float] = []
    objective = LstmObjective(data=tiny_data(), space=SearchSpace.from_dict(TINY_SPACE),
                              settings=TrainSettings(epochs=1, batch_size=64), seed=0)
    study = optuna.create_study(direction="maximize")
    run_study(study=study, optimizer=create_optimizer("tpe", seed=0, budget=args.trials), objective=objective,
              budget=args.trials, callbacks=[lambda s, t: readings.append(rss_mb())])
    x = np.arange(WARM_UP_TRIALS, len(readings))
    slope = float(np.polyfit(x, np.array(readings[WARM_UP_TRIALS:]), 1)[0])
    lines = [
        "# Memory over many trials in one process",
        "",
        f"Command: `python benchmarks/memory.py --trials {args.trials}`",
        machine_line(),
        "",
        f"Resident memory after trial 1: {readings[0]:.1f} MB; after trial {WARM_UP_TRIALS}: "
        f"{readings[WARM_UP_TRIALS - 1]:.1f} MB; after trial {len(readings)}: {readings[-1]:.1f} MB.",
        f"Growth per trial after the first {WARM_UP_TRIALS} (least-squares slope): {slope:.3f} MB "
        f"(limit {LIMIT_MB_PER_TRIAL} MB): {'within' if slope < LIMIT_MB_PER_TRIAL else 'OVER'} the limit.",
        "",
        "RSS (MB) after each trial: " + ", ".join(f"{r:.0f}" for r in readings),
    ]
    write_results(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
