"""Search efficiency: best validation accuracy against wall time, ours vs Keras Tuner.

On the same data split, search space (the default one), epochs and wall-time budget,
each tuner runs once per seed, tuners interleaved: TPE without pruning, TPE with the
median pruner, HHO, random search (all through this product's ``run_study``), and Keras
Tuner's Hyperband and BayesianOptimization (benchmark-only dependencies:
``pip install -e ".[bench]"``). A run stops after the first trial that ends past the
budget; only trials that end within it count. Prints and records, per tuner, the median
over seeds of the time to first reach the target validation accuracy and of the best
accuracy at the budget, as ratios against the best Keras Tuner tuner.

Keras Tuner scores a trial by its best epoch; ours by its last. That favours Keras Tuner
slightly, and is left as each tool does it.

    python benchmarks/search_efficiency.py --data mnist-5k --epochs 2 --budget 120 --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._common import machine_line, warm_up, write_results  # noqa: E402

MAX_TRIALS = 1000
BATCH = 128
TARGET_FRACTION = 0.99
OURS = {"tpe": ("tpe", "none"), "tpe+median": ("tpe", "median"), "hho": ("hho", "none"), "random": ("random", "none")}
KERAS_TUNER = ("kt-hyperband", "kt-bayesian")


class _OutOfTime(Exception):
    pass


def run_ours(name: str, *, data, epochs: int, budget: float, seed: int) -> list[tuple[float, float]]:
    import optuna

    from search.objective import LstmObjective, TrainSettings
    from search.optimizers import create_optimizer
    from search.space import DEFAULT_SPACE
    from studies.launch import run_study
    from studies.running.pruners import create_pruner

    optimizer, pruner = OURS[name]
    objective = LstmObjective(data=data, space=DEFAULT_SPACE, settings=TrainSettings(epochs=epochs, batch_size=BATCH),
                              seed=seed)
    study = optuna.create_study(direction="maximize", pruner=create_pruner(pruner, epochs=epochs))
    timeline: list[tuple[float, float]] = []
    start = time.perf_counter()

    def record(study, trial) -> None:
        elapsed = time.perf_counter() - start
        if trial.state == optuna.trial.TrialState.COMPLETE:
            timeline.append((elapsed, trial.value))
        if elapsed > budget:
            raise _OutOfTime

    try:
        run_study(study=study, optimizer=create_optimizer(optimizer, seed=seed, budget=MAX_TRIALS),
                  objective=objective, budget=MAX_TRIALS, callbacks=[record])
    except _OutOfTime:
        pass
    return timeline


def run_keras_tuner(name: str, *, data, epochs: int, budget: float, seed: int) -> list[tuple[float, float]]:
    import keras
    import keras_tuner as kt

    from models.lstm import build_model

    def build(hp):
        return build_model({
            "num_layers": hp.Int("num_layers", 1, 3),
            "units": hp.Int("units", 16, 256),
            "learning_rate": hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
            "decay_steps": hp.Int("decay_steps", 50, 5000, sampling="log"),
        })

    timeline: list[tuple[float, float]] = []
    start = time.perf_counter()
    base = kt.Hyperband if name == "kt-hyperband" else kt.BayesianOptimization

    class Timed(base):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            elapsed = time.perf_counter() - start
            if trial.score is not None and math.isfinite(trial.score):
                timeline.append((elapsed, float(trial.score)))
            if elapsed > budget:
                raise _OutOfTime

    # Hyperband stops after hyperband_iterations brackets (one bracket is 2 trials at 2 epochs):
    # ask for as many as the time budget can take, like every other tuner here.
    options = ({"max_epochs": epochs, "factor": 3, "hyperband_iterations": MAX_TRIALS}
               if name == "kt-hyperband" else {"max_trials": MAX_TRIALS})
    keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        tuner = Timed(build, objective="val_accuracy", seed=seed, directory=tmp, project_name="p", overwrite=True,
                      **options)
        try:
            tuner.search(data.train.x, data.train.y, epochs=epochs, batch_size=BATCH,
                         validation_data=(data.val.x, data.val.y), verbose=0)
        except _OutOfTime:
            pass
    return timeline


def best_within(timeline: list[tuple[float, float]], budget: float) -> float | None:
    values = [v for t, v in timeline if t <= budget]
    return max(values) if values else None


def time_to(timeline: list[tuple[float, float]], target: float, budget: float) -> float | None:
    return next((t for t, v in timeline if v >= target and t <= budget), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist-5k")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--budget", type=float, default=120.0, help="wall-time budget per run (s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--target", type=float, help=f"default: {TARGET_FRACTION} x the best accuracy seen")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "search_efficiency.md"))
    args = parser.parse_args()

    import optuna

    from models.data import load_mnist

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_mnist(args.data)
    warm_up(data)
    names = [*OURS, *KERAS_TUNER]
    timelines: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for seed in args.seeds:
        for name in names if seed % 2 == 0 else list(reversed(names)):
            runner = run_ours if name in OURS else run_keras_tuner
            timelines[name, seed] = runner(name, data=data, epochs=args.epochs, budget=args.budget, seed=seed)
            print(name, seed, len(timelines[name, seed]), "trials, best",
                  best_within(timelines[name, seed], args.budget), flush=True)
            raw = {f"{n} seed{s}": t for (n, s), t in timelines.items()}
            Path(args.out).with_suffix(".timelines.json").write_text(json.dumps(raw, indent=1))
    seen = [best_within(t, args.budget) for t in timelines.values()]
    target = args.target or TARGET_FRACTION * max(v for v in seen if v is not None)
    rows = {}
    for name in names:
        bests = [best_within(timelines[name, s], args.budget) or 0.0 for s in args.seeds]
        times = [time_to(timelines[name, s], target, args.budget) for s in args.seeds]
        reached = [t for t in times if t is not None]
        rows[name] = {"best": statistics.median(bests), "time": statistics.median(reached) if reached else None,
                      "reached": len(reached), "trials": statistics.median(len(timelines[name, s]) for s in args.seeds)}
    kt_best = max(KERAS_TUNER, key=lambda n: (rows[n]["reached"], -(rows[n]["time"] or math.inf), rows[n]["best"]))
    lines = [
        "# Search efficiency: best validation accuracy against wall time",
        "",
        f"Command: `python benchmarks/search_efficiency.py --data {args.data} --epochs {args.epochs} "
        f"--budget {args.budget:g} --seeds {' '.join(map(str, args.seeds))}`",
        machine_line(),
        f"Data: {args.data} (train {len(data.train)}, validation {len(data.val)}); default search space; "
        f"{args.epochs} epochs per trial; wall-time budget {args.budget:g} s per run; seeds {args.seeds}.",
        f"Target validation accuracy: {target:.4f}. Reference: {kt_best} (the better Keras Tuner tuner).",
        "",
        "| tuner | completed trials (median) | seeds reaching target | time to target s (median) "
        f"| time vs {kt_best} | best at budget (median) | best vs {kt_best} |",
        "|---|---|---|---|---|---|---|",
    ]
    ref = rows[kt_best]
    for name, r in rows.items():
        ratio_t = f"{r['time'] / ref['time']:.2f}" if r["time"] is not None and ref["time"] else "-"
        time_text = f"{r['time']:.0f}" if r["time"] is not None else "not reached"
        lines.append(f"| {name} | {r['trials']:g} | {r['reached']} of {len(args.seeds)} | {time_text} | {ratio_t} "
                     f"| {r['best']:.4f} | {r['best'] / ref['best']:.3f} |")
    write_results(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
