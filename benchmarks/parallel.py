"""Parallel workers: trials per hour with ``launch --jobs 1`` and ``--jobs 2``.

Runs the same study (TPE, one fixed configuration so every trial costs the same) with
J = 1 and J = 2 worker processes through the CLI, into throw-away SQLite files, and
prints and records trials per hour of wall time (process start to exit, TensorFlow
start-up included) and the speed-up.

    python benchmarks/parallel.py --data ../shared/data/mnist --trials 8 --epochs 1
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

FIXED = '[dimensions.units]\ntype = "categorical"\nchoices = [64]\n\n[dimensions.learning_rate]\ntype = "categorical"\nchoices = [0.002]\n'


def run(jobs: int, args: argparse.Namespace, tmp: Path) -> float:
    space = tmp / "fixed.toml"
    space.write_text(FIXED)
    cmd = [sys.executable, str(ROOT / "run_search.py"), "-q", "launch", "--study", f"p{jobs}", "--jobs", str(jobs),
           "--trials", str(args.trials), "--epochs", str(args.epochs), "--data", args.data, "--space", str(space),
           "--storage", f"sqlite:///{tmp / f'p{jobs}.db'}"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "parallel.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seconds = {jobs: run(jobs, args, Path(tmp)) for jobs in (1, 2)}
    per_hour = {jobs: args.trials * 3600 / s for jobs, s in seconds.items()}
    lines = [
        "# Parallel workers: trials per hour",
        "",
        f"Command: `python benchmarks/parallel.py --data {args.data} --trials {args.trials} --epochs {args.epochs}`",
        machine_line(),
        "Configuration: one LSTM layer of 64 units, learning rate 0.002, batch 128, every trial the same.",
        "",
        "| workers (--jobs) | wall time (s) | trials per hour |",
        "|---|---|---|",
        *[f"| {jobs} | {seconds[jobs]:.1f} | {per_hour[jobs]:.0f} |" for jobs in seconds],
        "",
        f"Speed-up of 2 workers over 1: {per_hour[2] / per_hour[1]:.2f}x",
    ]
    write_results(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
