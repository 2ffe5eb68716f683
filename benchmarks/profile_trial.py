"""Where one trial's time goes: cProfile of trials run the way ``launch`` runs them.

Runs a warm-up trial, then profiles N trials of a TPE study on SQLite through
``run_study`` (sampler, storage, worker tag, budget gate, objective, callbacks) and
splits the wall time into: Keras ``fit`` (training and per-epoch validation), building
and compiling the model, clearing the session, and everything else (sampling, storage,
logging). Prints and records the split.

    python benchmarks/profile_trial.py --data ../shared/data/mnist --trials 3
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._common import machine_line, warm_up, write_results  # noqa: E402

PARAMS = {"num_layers": 1, "units": 128, "learning_rate": 1e-3, "decay_steps": 100}
# (label, file suffix, function name) of the calls the profile is split by.
PARTS = (
    ("Keras fit (training + per-epoch validation)", "keras/src/backend/tensorflow/trainer.py", "fit"),
    ("build and compile the model", "models/lstm.py", "build_model"),
    ("clear the Keras session", "keras/src/backend/common/global_state.py", "clear_session"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist-5k")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "profile_trial.md"))
    args = parser.parse_args()

    import optuna

    from models.data import load_mnist
    from search.objective import LstmObjective, TrainSettings
    from search.optimizers import create_optimizer
    from search.space import SearchSpace
    from studies.launch import run_study
    from studies.store.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_mnist(args.data)
    warm_up(data, PARAMS)
    fixed = {k: {"type": "categorical", "choices": [v]} for k, v in PARAMS.items()}
    space = SearchSpace.from_dict({"dimensions": fixed})
    objective = LstmObjective(data=data, space=space, settings=TrainSettings(epochs=args.epochs), seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/profile.db"
        study = optuna.create_study(study_name="p", storage=open_storage(url, must_exist=False), direction="maximize")
        runner = create_optimizer("tpe", seed=0, budget=args.trials)
        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.enable()
        run_study(study=study, optimizer=runner, objective=objective, budget=args.trials)
        profiler.disable()
        total = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    parts = {label: _cumulative(stats, suffix, name) for label, suffix, name in PARTS}
    lines = [
        "# Where a trial's time goes",
        "",
        f"Command: `python benchmarks/profile_trial.py --data {args.data} --trials {args.trials} "
        f"--epochs {args.epochs}`",
        machine_line(),
        f"How: cProfile around `run_study` of {args.trials} trials (TPE, SQLite, the product's callbacks), after an "
        f"untimed warm-up fit; configuration {PARAMS}, {args.epochs} epoch(s), train {len(data.train)}, "
        f"validation {len(data.val)}. Cumulative time of each call below, summed over the trials.",
        "",
        "| part | seconds | share |",
        "|---|---|---|",
    ]
    for label, seconds in parts.items():
        lines.append(f"| {label} | {seconds:.2f} | {seconds / total:.1%} |")
    rest = total - sum(parts.values())
    lines += [f"| everything else (sampling, storage, logging, garbage collection) | {rest:.2f} | {rest / total:.1%} |",
              f"| total | {total:.2f} | 100% |"]
    write_results(args.out, lines)
    return 0


def _cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    """Cumulative seconds of the outermost calls of ``name`` defined in a file ending in ``suffix``."""
    return sum(entry[3] for (path, _, func), entry in stats.stats.items()  # type: ignore[attr-defined]
               if func == name and path.endswith(suffix))


if __name__ == "__main__":
    sys.exit(main())
