"""Parallel workers: trials per hour with ``launch --jobs 1`` and ``--jobs 2``.

Runs the same study with J = 1 and J = 2 worker processes through the CLI, for each
optimizer asked for, into throw-away SQLite files, and prints and records trials per
hour of wall time (process start to exit, TensorFlow start-up included) and the
speed-up. The space fixes the architecture (one LSTM layer of 64 units) and varies only
the learning rate, so every trial costs the same yet HHO has distinct configurations
to propose. TPE's workers are independent samplers (constant liar); HHO's are one
population trained by worker processes.

    python benchmarks/parallel.py --data ../shared/data/mnist --trials 8 --epochs 1 --optimizers tpe hho
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import machine_line, write_results  # noqa: E402

FIXED = ('[dimensions.units]\ntype = "categorical"\nchoices = [64]\n\n'
         '[dimensions.learning_rate]\ntype = "float"\nlow = 0.001\nhigh = 0.003\nlog = true\n')


def run(optimizer: str, jobs: int, args: argparse.Namespace, tmp: Path) -> float:
    space = tmp / "fixed.toml"
    space.write_text(FIXED)
    cmd = [sys.executable, str(ROOT / "run_search.py"), "-q", "launch", "--study", f"{optimizer}{jobs}",
           "--optimizer", optimizer, "--jobs", str(jobs), "--trials", str(args.trials), "--epochs", str(args.epochs),
           "--data", args.data, "--space", str(space), "--storage", f"sqlite:///{tmp / 'p.db'}"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--optimizers", nargs="+", default=["tpe", "hho"])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "parallel.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seconds = {(opt, jobs): run(opt, jobs, args, Path(tmp)) for opt in args.optimizers for jobs in (1, 2)}
    per_hour = {key: args.trials * 3600 / s for key, s in seconds.items()}
    lines = [
        "# Parallel workers: trials per hour",
        "",
        f"Command: `python benchmarks/parallel.py --data {args.data} --trials {args.trials} --epochs {args.epochs} "
        f"--optimizers {' '.join(args.optimizers)}`",
        machine_line(),
        "Configuration: one LSTM layer of 64 units, learning rate tuned in [0.001, 0.003] (same cost per trial), "
        "batch 128.",
        "",
        "| optimizer | workers (--jobs) | wall time (s) | trials per hour | speed-up of 2 over 1 |",
        "|---|---|---|---|---|",
    ]
    for (opt, jobs), wall in seconds.items():
        speed_up = f"{per_hour[opt, 2] / per_hour[opt, 1]:.2f}x" if jobs == 2 else ""
        lines.append(f"| {opt} | {jobs} | {wall:.1f} | {per_hour[opt, jobs]:.0f} | {speed_up} |")
    write_results(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
