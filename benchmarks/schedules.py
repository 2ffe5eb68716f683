"""Successive halving against "screen everything short, train the best few fully" (issue #12).

Egele et al. (2023) found that discarding configurations after one epoch and training the
best ones fully often does as well as successive halving. Both are rung settings of this
product's one scheduler, so this runs the product itself (``launch`` with an epoch budget,
TPE, no pruner) with each schedule, seed by seed, on the same data and the same epoch
budget, and scores each study's final model (its top-rung checkpoint) once on the test
split. Prints, and writes to ``benchmarks/results/schedules.md``, per schedule and seed:
the final model's validation and test accuracy, configurations screened, configurations
that reached the top rung and wall seconds; then medians and a two-sided Mann-Whitney U
test (exact p) of the test accuracies.

    python benchmarks/schedules.py --data mnist-5k --epoch-budget 81 --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._common import machine_line, write_results  # noqa: E402

# name: (rungs, reduction factor). Both end at the same final length.
SCHEDULES = {
    "halving": ((1, 3, 9, 27), 3),
    "screen": ((1, 27), 9),
}
OPTIMIZER = "tpe"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "schedules.md"


def run_one(*, schedule: str, seed: int, data: str, epoch_budget: int, workdir: Path) -> dict[str, float | int | str]:
    import optuna

    from studies.export.best import export_best
    from studies.launch import launch

    rungs, factor = SCHEDULES[schedule]
    name = f"{schedule}-seed{seed}"
    storage = f"sqlite:///{workdir / 'schedules.db'}"
    started = time.perf_counter()
    result = launch(study_name=name, optimizer=OPTIMIZER, storage=storage, data=data, rungs=rungs,
                    reduction_factor=factor, epoch_budget=epoch_budget, seed=seed, pruner="none",
                    artifacts=workdir / "artifacts")
    config = export_best(study_name=name, storage=storage, model_out=workdir / f"{name}.keras")
    seconds = time.perf_counter() - started
    study = optuna.load_study(study_name=name, storage=storage)
    at_top = sum(t.user_attrs.get("rung", 0) == len(rungs) - 1 and t.state == optuna.trial.TrialState.COMPLETE
                 for t in study.trials)
    return {"schedule": schedule, "seed": seed, "validation": float(config["validation_accuracy"]),
            "test": float(config["test_accuracy"]), "configurations": result.configurations,
            "at_top": at_top, "epochs": result.epochs, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="MNIST source, as for run_search.py")
    parser.add_argument("--epoch-budget", type=int, required=True, help="training epochs per study")
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="markdown results file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from studies.compare.stats import mann_whitney

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            for schedule in SCHEDULES:  # interleaved, so machine load falls on both alike
                row = run_one(schedule=schedule, seed=seed, data=args.data, epoch_budget=args.epoch_budget,
                              workdir=Path(scratch))
                print(row, flush=True)
                rows.append(row)
    lines = [
        "# Successive halving vs screening at one epoch (issue #12)", "",
        f"Command: `python benchmarks/schedules.py --data {args.data} --epoch-budget {args.epoch_budget} "
        f"--seeds {' '.join(map(str, args.seeds))}`", "",
        machine_line(), "",
        f"Optimizer {OPTIMIZER}, no pruner, the same epoch budget per study; the final model is the top rung's "
        "checkpoint, tested once.", "",
        "| schedule | rungs | factor | seed | validation | test | configurations | at top rung | epochs | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        rungs, factor = SCHEDULES[str(row["schedule"])]
        lines.append(f"| {row['schedule']} | {','.join(map(str, rungs))} | {factor} | {row['seed']} | "
                     f"{row['validation']:.4f} | {row['test']:.4f} | {row['configurations']} | {row['at_top']} | "
                     f"{row['epochs']} | {row['seconds']:.0f} |")
    tests = {s: [float(r["test"]) for r in rows if r["schedule"] == s] for s in SCHEDULES}
    first, second = SCHEDULES
    pair = mann_whitney(first=first, x=tests[first], second=second, y=tests[second])
    lines += ["", "Median test accuracy: " + ", ".join(f"{s} {statistics.median(v):.4f}" for s, v in tests.items())
              + f". Mann-Whitney U = {pair.u_statistic:g}, two-sided p = {pair.p_value:.3g} ({pair.method}), "
              f"Vargha-Delaney A = {pair.vargha_delaney_a:.2f}."]
    write_results(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
