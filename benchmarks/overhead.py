"""Overhead of tuning: one configuration trained by bare Keras and as a real tuning trial.

Trains LSTM(128), learning_rate 1e-3, decay_steps 100, batch 128, for 3 epochs on full
MNIST (54k train / 6k validation), once as a bare ``model.fit`` and once as one trial of
a real study (TPE, SQLite storage, the product's callbacks and budget gate, through
``run_study``), in the same process, alternating order over repetitions. Prints and
records validation accuracy, samples/s, the median wall-time ratio (trial / bare), and
the fixed cost per trial outside training (trial duration minus time in ``fit``).

    python benchmarks/overhead.py --data ../shared/data/mnist [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._common import machine_line, warm_up, write_results  # noqa: E402

PARAMS = {"num_layers": 1, "units": 128, "learning_rate": 1e-3, "decay_steps": 100}
EPOCHS = 3
BATCH = 128
TARGET_VAL_ACCURACY = 0.965


def bare_keras(data, seed: int) -> tuple[float, float]:
    import keras

    from models.lstm import build_model

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build_model(PARAMS)
    start = time.perf_counter()
    history = model.fit(data.train.x, data.train.y, batch_size=BATCH, epochs=EPOCHS,
                        validation_data=(data.val.x, data.val.y), verbose=0)
    return history.history["val_accuracy"][-1], time.perf_counter() - start, 0.0


def through_objective(data, seed: int) -> tuple[float, float, float]:
    """One trial of a real study; returns (val accuracy, trial wall time, time outside fit)."""
    import tempfile

    import optuna

    from search.objective import LstmObjective, TrainSettings
    from search.optimizers import create_optimizer
    from search.space import SearchSpace
    from studies.launch import run_study
    from studies.store.storage import open_storage

    # Single-choice dimensions pin the configuration while going through the normal path.
    space = SearchSpace.from_dict(
        {"dimensions": {k: {"type": "categorical", "choices": [v]} for k, v in PARAMS.items()}}
    )
    objective = LstmObjective(data=data, space=space, settings=TrainSettings(epochs=EPOCHS, batch_size=BATCH),
                              seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/overhead.db"
        study = optuna.create_study(study_name="o", storage=open_storage(url, must_exist=False),
                                    direction="maximize")
        start = time.perf_counter()
        run_study(study=study, optimizer=create_optimizer("tpe", seed=seed, budget=1), objective=objective,
                  budget=1)  # through the study's lock and budget, as every run
        seconds = time.perf_counter() - start
        trial = study.trials[0]
    return trial.value, seconds, seconds - trial.user_attrs["train_seconds"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="MNIST directory (e.g. ../shared/data/mnist)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "overhead.md"))
    args = parser.parse_args()

    import optuna

    from models.data import load_mnist

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_mnist(args.data)
    samples = len(data.train) * EPOCHS
    warm_up(data, PARAMS)
    rows: dict[str, list] = {"bare Keras": [], "our objective": []}
    for rep in range(args.repeats):
        order = [("bare Keras", bare_keras), ("our objective", through_objective)]
        for name, fn in order if rep % 2 == 0 else reversed(order):
            acc, seconds, outside = fn(data, seed=rep)
            rows[name].append((acc, seconds, outside))
            print(f"rep {rep} {name:14s} val_acc {acc:.4f}  {samples / seconds:7.0f} samples/s  ({seconds:.1f} s, "
                  f"{outside:.2f} s outside fit)", flush=True)
    med = {name: statistics.median(s for _, s, _ in runs) for name, runs in rows.items()}
    fixed = statistics.median(o for _, _, o in rows["our objective"])
    ratio = med["our objective"] / med["bare Keras"]
    lines = [
        "# Overhead: a tuning trial vs bare Keras, same configuration",
        "",
        f"Command: `python benchmarks/overhead.py --data {args.data} --repeats {args.repeats}`",
        machine_line(),
        f"Config: {PARAMS}, batch {BATCH}, {EPOCHS} epochs, train {len(data.train)}, validation {len(data.val)}",
        "",
        "",
        "Bare Keras: `model.fit` of the same model. Tuning trial: one trial of a TPE study on SQLite through",
        "`run_study` (sampler, storage writes, worker tag, budget gate, per-epoch report, log line).",
        "",
        "| run | validation accuracy | wall time (s) | samples/s | outside fit (s) |",
        "|---|---|---|---|---|",
    ]
    for name, runs in rows.items():
        for acc, seconds, outside in runs:
            lines.append(f"| {name} | {acc:.4f} | {seconds:.1f} | {samples / seconds:.0f} | {outside:.2f} |")
    lines += ["", f"Median wall-time ratio (tuning trial / bare Keras): {ratio:.3f} (target at most 1.05)",
              f"Fixed cost per trial outside training (median): {fixed:.2f} s",
              f"Target validation accuracy {TARGET_VAL_ACCURACY}: "
              f"{'met' if min(a for a, _, _ in rows['our objective']) >= TARGET_VAL_ACCURACY else 'NOT met'}"]
    write_results(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
