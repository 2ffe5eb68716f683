"""What pruning saves: the same TPE study (same seed) with each pruner, side by side.

For each seed, runs ``launch --optimizer tpe`` once per pruner on the same data, space,
epochs and budget, into a throw-away SQLite file, interleaving pruners so machine load
falls on all alike. Prints and records, per pruner: PRUNED trials, summed training time,
summed trial time, and the best validation accuracy, with ratios against no pruning.

    python benchmarks/pruning.py --data mnist-5k --trials 12 --epochs 3 --seeds 0 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._common import machine_line, write_results  # noqa: E402

PRUNER_ORDER = ("none", "median", "hyperband")


def run_one(*, pruner: str, seed: int, args: argparse.Namespace, directory: Path) -> dict:
    import optuna
    from optuna.trial import TrialState

    from studies.launch import launch

    url = f"sqlite:///{directory / f'{pruner}-{seed}.db'}"
    name = f"prune-{pruner}-seed{seed}"
    result = launch(study_name=name, trials=args.trials, optimizer="tpe", storage=url, epochs=args.epochs,
                    data=args.data, seed=seed, pruner=pruner)
    trials = optuna.load_study(study_name=name, storage=url).trials
    return {
        "pruner": pruner,
        "seed": seed,
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "train_s": sum(t.user_attrs.get("train_seconds", 0.0) for t in trials),
        "trial_s": sum(t.duration.total_seconds() for t in trials),
        "epochs_run": sum(t.user_attrs.get("epochs_run", 0) for t in trials),
        "best": result.best_value,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist-5k")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pruning.md"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            order = PRUNER_ORDER if seed % 2 == 0 else tuple(reversed(PRUNER_ORDER))
            for pruner in order:
                row = run_one(pruner=pruner, seed=seed, args=args, directory=Path(tmp))
                rows.append(row)
                print(row, flush=True)
    base = {r["seed"]: r for r in rows if r["pruner"] == "none"}
    seeds = " ".join(map(str, args.seeds))
    lines = [
        "# Pruning: TPE with each pruner, same seed, side by side",
        "",
        f"Command: `python benchmarks/pruning.py --data {args.data} --trials {args.trials} "
        f"--epochs {args.epochs} --seeds {seeds}`",
        machine_line(),
        "",
        "| pruner | seed | pruned | epochs trained | training s | trial s | training vs none | best val acc |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['pruner']} | {r['seed']} | {r['pruned']} | {r['epochs_run']} | {r['train_s']:.1f} | "
                     f"{r['trial_s']:.1f} | {r['train_s'] / base[r['seed']]['train_s']:.2f} | {r['best']:.4f} |")
    lines += ["", "Median over seeds:", ""]
    for pruner in PRUNER_ORDER:
        mine = [r for r in rows if r["pruner"] == pruner]
        ratio = statistics.median(r["train_s"] / base[r["seed"]]["train_s"] for r in mine)
        lines.append(f"- {pruner}: training time {ratio:.2f}x of no pruning, best validation accuracy "
                     f"{statistics.median(r['best'] for r in mine):.4f}")
    write_results(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
