"""Best final model for a fixed compute budget: which tuner hands back the best fully trained model?

Every tuner gets the same wall-clock budget on this machine (``--budget-minutes``, tuning
and the final model's training together) and the same final training length
(``--final-epochs``), on the same data split and the product's default search space. Each
part is its own command (none needs more than about two hours) and writes one JSON file
into ``--out-dir`` (default ``benchmarks/results/best_model/``); ``report`` assembles the
table in ``benchmarks/results/best_model.md``. The test split is used once per part, for
the model the part hands back.

- ``untuned``: the reference, no tuning and no budget: LSTM(128), learning rate 1e-3,
  ``--final-epochs`` epochs on the train split.
- ``ours --optimizer tpe|hho``: the product with successive halving over epochs
  (``--rungs``, default 1, 3, 9, ... up to ``--final-epochs``, factor
  ``--reduction-factor``), no pruner, ``timeout`` = the budget (the product starts a
  segment only when it expects it to end by then, from the times measured so far; a
  running one always finishes, so the wall time can still exceed the budget). The final
  model is the best checkpoint of the highest rung reached, trained on the train split.
- ``fixed``: today's approach: TPE with the median pruner, one rung of ``--epochs``
  epochs, then the winner retrained on train + validation for ``--final-epochs`` and
  scored on test.
- ``keras-tuner``: Keras Tuner's Hyperband (``max_epochs`` = ``--final-epochs``, factor 3)
  over the same space, then its best hyperparameters trained from scratch for
  ``--final-epochs`` on the train split. Needs ``pip install -e ".[bench]"``.

The two parts that train their winner again after tuning share one stopping rule
(:class:`FinalTraining`): tuning must leave the best configuration so far the time of its
final training at the pace its own tuning trial measured (seconds per epoch x final epochs,
x the final training set's size over the tuning one's), and a trial starts only if it is
expected to end by then, as in the product: a continued configuration at its own pace, a
new one at the median pace of the trials so far. ``fixed`` gets this from the product
itself: a thread of this script keeps the study's deadline (which the product reads before
every trial) at that point as the best trial changes. ``keras-tuner`` checks it before each
trial. A first epoch's graph tracing and the per-epoch validation make the measured pace
high, so the rule errs on the safe side; a winner found late that is slower than the
previous one can still overrun the budget by the difference.

The clock of a part starts after its data are loaded and an untimed warm-up fit in this
process (as in the other benchmarks); what the product spends in its own worker process
(starting it, loading the data there) is counted. The validation accuracy is that of the
final model on the validation split, except for ``fixed``, whose final model trained on
the validation split: there it is the tuning trial's, after ``--epochs`` epochs.

    python benchmarks/best_model.py untuned --data ../shared/data/mnist
    python benchmarks/best_model.py ours --optimizer tpe --data ../shared/data/mnist
    python benchmarks/best_model.py ours --optimizer hho --data ../shared/data/mnist
    python benchmarks/best_model.py fixed --epochs 3 --data ../shared/data/mnist
    python benchmarks/best_model.py keras-tuner --data ../shared/data/mnist
    python benchmarks/best_model.py report

A quick check on the embedded 5,000 digits (a few minutes a part) writes elsewhere:

    python benchmarks/best_model.py ours --optimizer tpe --data mnist-5k --budget-minutes 3 --final-epochs 3 \\
        --out-dir smoke
    python benchmarks/best_model.py report --out-dir smoke --markdown smoke/best_model.md
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import logging
import os
import shlex
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._common import machine_line, source_commit, warm_up  # noqa: E402
from studies.store.record import package_versions  # noqa: E402

SCRIPT = "benchmarks/best_model.py"
DEFAULT_OUT_DIR = ROOT / "benchmarks" / "results" / "best_model"
DEFAULT_MARKDOWN = ROOT / "benchmarks" / "results" / "best_model.md"
DEFAULT_BUDGET_MINUTES = 60.0
DEFAULT_FINAL_EPOCHS = 27
DEFAULT_SEED = 0
DEFAULT_REDUCTION_FACTOR = 3
FIRST_RUNG = 1
SECONDS_PER_MINUTE = 60.0
# How often fixed's deadline keeper looks at the study's trials.
DEADLINE_POLL_S = 2.0
FIXED_EPOCHS = 3
FIXED_PRUNER = "median"
FIXED_OPTIMIZER = "tpe"
OURS_PRUNER = "none"
OURS_OPTIMIZERS = ("tpe", "hho")
JOBS = 1
# Keras Tuner: Hyperband's reduction factor, and enough iterations that only the time stops it.
KT_FACTOR = 3
KT_ITERATIONS = 1000
KT_OBJECTIVE = "val_accuracy"
# What build_model gets for the untuned reference.
UNTUNED_PARAMS = {"num_layers": 1, "units": 128, "learning_rate": 1e-3}
PARTS = ("untuned", "ours-tpe", "ours-hho", "fixed", "keras-tuner")
JSON_INDENT = 2
DIGEST_SHOWN = 12

_logger = logging.getLogger("benchmarks.best_model")


# ---------------------------------------------------------------------------- shared pieces


def configure_logging() -> None:
    """Progress lines on stderr from this script and the product (also in its worker processes)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(processName)s] %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in ("benchmarks", "models", "search", "studies"):
        logging.getLogger(name).setLevel(logging.INFO)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def shown_data(given: str) -> str:
    """The data argument as a committed file may show it: as given when it names a source
    or a relative path, else only the directory's name in angle brackets (no machine path)."""
    from models.data import NAMED_SOURCES

    if given in NAMED_SOURCES or not (Path(given).is_absolute() or given.startswith("~")):
        return given
    return f"<{Path(given).expanduser().name}>"


def epochs_text(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


@contextlib.contextmanager
def study_place(part: str, seed: int) -> Iterator[tuple[Path, str, str]]:
    """A scratch directory, the SQLite URL of a study store in it, and the study's name."""
    with tempfile.TemporaryDirectory(prefix="best-model-") as tmp:
        directory = Path(tmp)
        yield directory, f"sqlite:///{directory / 'study.db'}", f"best-model-{part}-seed{seed}"


def versions() -> dict[str, str]:
    """The product's recorded package versions, plus Keras Tuner's."""
    found = package_versions()
    try:
        found["keras-tuner"] = importlib.metadata.version("keras-tuner")
    except importlib.metadata.PackageNotFoundError:
        pass
    return found


def reproduce(part: str, args: argparse.Namespace, extra: list[str]) -> str:
    """The command that runs ``part`` again (into the default results directory)."""
    words = ["python", SCRIPT, part, *extra, "--data", shown_data(args.data),
             "--budget-minutes", f"{args.budget_minutes:g}", "--final-epochs", str(args.final_epochs),
             "--seed", str(args.seed)]
    return shlex.join(words)


def load_data(source: str):
    from models.data import load_mnist

    return load_mnist(source)


def base_record(part: str, args: argparse.Namespace, data, *, command: str) -> dict[str, Any]:
    return {
        "part": part,
        "command": command,
        "data": {**data.describe(), "given": shown_data(args.data)},
        "budget_seconds": None if part == "untuned" else args.budget_minutes * SECONDS_PER_MINUTE,
        "final_epochs": args.final_epochs,
        "seed": args.seed,
        "machine": machine_line(),
        "commit": source_commit(),
        "versions": versions(),
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def write_part(out_dir: Path, part: str, record: dict[str, Any]) -> Path:
    """Write ``record`` as ``OUT_DIR/<part>.json`` and print its figures."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{part}.json"
    path.write_text(json.dumps(record, indent=JSON_INDENT) + "\n", encoding="utf-8")
    budget = record.get("budget_seconds")
    print(f"{part}: test accuracy {record['test_accuracy']:.4f}, validation accuracy "
          f"{record['validation_accuracy']:.4f}, configurations {record['configurations']}, "
          f"at the top rung ({epochs_text(record['top_length'])}) {record['reached_final']}, "
          f"wall {record['wall_seconds']:.0f} s"
          + (f" (budget {budget:.0f} s, {record['wall_seconds'] - budget:+.0f} s)" if budget else "")
          + f", tuning {record['tuning_seconds']:.0f} s, final model {record['final_seconds']:.0f} s")
    print(f"{part}: params {record['params']}")
    print(f"wrote {path}")
    return path


def train_and_score(params: dict[str, Any], *, data, epochs: int, seed: int) -> tuple[float, float]:
    """Train ``params`` from scratch for ``epochs`` on the train split; return (validation, test) accuracy."""
    import keras

    from models.lstm import build_model
    from search.objective import TrainSettings

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build_model(params)
    progress = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: _logger.info(
        "final training epoch %d/%d: loss %.4f, accuracy %.4f", epoch + 1, epochs, logs["loss"], logs["accuracy"]))
    model.fit(data.train.x, data.train.y, batch_size=params.get("batch_size", TrainSettings.batch_size),
              epochs=epochs, verbose=0, callbacks=[progress])
    _, val_accuracy = model.evaluate(data.val.x, data.val.y, verbose=0)
    _, test_accuracy = model.evaluate(data.test.x, data.test.y, verbose=0)
    return float(val_accuracy), float(test_accuracy)


def study_counts(study_name: str, storage: str, rungs: int) -> tuple[int, int]:
    """(configurations trained, configurations trained to the final length) of a study.

    A configuration counts once its rung-0 trial finished (queued trials that never ran
    do not); it reached the final length with a COMPLETE trial of the top rung.
    """
    import optuna
    from optuna.trial import TrialState

    trials = optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False)
    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    trained = sum(t.state in finished and t.user_attrs.get("rung", 0) == 0 for t in trials)
    at_top = sum(t.state == TrialState.COMPLETE and t.user_attrs.get("rung", 0) == rungs - 1 for t in trials)
    return trained, at_top


@dataclasses.dataclass(frozen=True)
class FinalTraining:
    """The stopping rule of the parts that train their winner again after tuning.

    The budget ends at ``end`` (seconds since the epoch); the winner then trains ``epochs``
    epochs on a set ``scale`` times the size of the one its tuning trial trained on. Tuning
    is over at :meth:`tuning_deadline`: the end less the winner's final training at the
    seconds per epoch its tuning trial measured (no winner yet: the end).
    """

    end: float
    epochs: int
    scale: float = 1.0

    def tuning_deadline(self, winner_seconds_per_epoch: float | None) -> float:
        return self.end - (winner_seconds_per_epoch or 0.0) * self.epochs * self.scale

    def may_start(self, *, expected_seconds: float, winner_seconds_per_epoch: float | None) -> bool:
        """Whether a trial expected to take ``expected_seconds`` ends by the tuning deadline."""
        return time.time() + expected_seconds <= self.tuning_deadline(winner_seconds_per_epoch)


def keep_tuning_deadline(*, study_name: str, storage: str, rule: FinalTraining, stop: threading.Event) -> None:
    """Until ``stop`` is set, keep the study's deadline at ``rule``'s tuning deadline for its
    best trial so far (the product reads the deadline before every trial it starts).

    The first deadline is written once a trial has completed, so after the product's launch
    wrote its own.
    """
    import optuna

    from search.schedulers import seconds_per_epoch
    from studies.store.budget import DEADLINE_ATTR

    written = None
    while not stop.wait(DEADLINE_POLL_S):
        try:
            study = optuna.load_study(study_name=study_name, storage=storage)
            best = study.best_trial
        except (KeyError, ValueError):  # no study yet, or no completed trial
            continue
        pace = seconds_per_epoch(best)
        deadline = rule.tuning_deadline(pace)
        if deadline != written:
            study.set_user_attr(DEADLINE_ATTR, deadline)
            written = deadline
            _logger.info("tuning deadline: %.0f s before the budget's end (trial %d's %s at %.1f s/epoch)",
                         rule.end - deadline, best.number, epochs_text(rule.epochs), pace)


# ---------------------------------------------------------------------------- the parts


def run_untuned(args: argparse.Namespace) -> dict[str, Any]:
    data = load_data(args.data)
    warm_up(data)
    start = time.perf_counter()
    validation, test = train_and_score(dict(UNTUNED_PARAMS), data=data, epochs=args.final_epochs, seed=args.seed)
    wall = time.perf_counter() - start
    record = base_record("untuned", args, data, command=reproduce("untuned", args, []))
    record.update(test_accuracy=test, validation_accuracy=validation, configurations=1, reached_final=1,
                  top_length=args.final_epochs, wall_seconds=wall, tuning_seconds=0.0, final_seconds=wall,
                  params=dict(UNTUNED_PARAMS),
                  final_model=f"{epochs_text(args.final_epochs)} on the train split")
    return record


def run_ours(args: argparse.Namespace) -> dict[str, Any]:
    from studies.export.best import export_best
    from studies.launch import launch

    rungs = args.rungs
    part = f"ours-{args.optimizer}"
    budget = args.budget_minutes * SECONDS_PER_MINUTE
    data = load_data(args.data)
    warm_up(data)
    with study_place(part, args.seed) as (directory, storage, name):
        start = time.perf_counter()
        result = launch(study_name=name, storage=storage, optimizer=args.optimizer, data=args.data, rungs=rungs,
                        reduction_factor=args.reduction_factor, timeout=budget, seed=args.seed, pruner=OURS_PRUNER,
                        artifacts=directory / "artifacts", jobs=JOBS, worker_init=configure_logging)
        tuned = time.perf_counter()
        config = export_best(study_name=name, storage=storage, model_out=directory / "final.keras")
        end = time.perf_counter()
        trained, at_top = study_counts(name, storage, len(rungs))
    extra = ["--optimizer", args.optimizer, "--rungs", ",".join(map(str, rungs)),
             "--reduction-factor", str(args.reduction_factor)]
    record = base_record(part, args, data, command=reproduce("ours", args, extra))
    record.update(
        test_accuracy=config["test_accuracy"], validation_accuracy=config["validation_accuracy"],
        configurations=trained, reached_final=at_top, top_length=rungs[-1],
        configurations_with_queued=result.configurations,
        wall_seconds=end - start, tuning_seconds=tuned - start, final_seconds=end - tuned, params=config["params"],
        final_model=f"checkpoint of trial {config['trial']}: {epochs_text(config['epochs'])} on the train split "
                    f"(rung {config['rung']} of {len(rungs) - 1})",
        rungs=list(rungs), reduction_factor=args.reduction_factor, optimizer=args.optimizer, pruner=OURS_PRUNER,
        optimizer_settings=config.get("optimizer_settings"), segments=result.finished,
        epochs_trained=result.epochs, final_trial=config["trial"], final_epochs_trained=config["epochs"],
    )
    return record


def run_fixed(args: argparse.Namespace) -> dict[str, Any]:
    from studies.export.best import export_best
    from studies.launch import launch

    budget = args.budget_minutes * SECONDS_PER_MINUTE
    data = load_data(args.data)
    warm_up(data)
    tuning_set, final_set = len(data.train.y), len(data.train.y) + len(data.val.y)
    with study_place("fixed", args.seed) as (directory, storage, name):
        start = time.perf_counter()
        rule = FinalTraining(end=time.time() + budget, epochs=args.final_epochs, scale=final_set / tuning_set)
        stop = threading.Event()
        keeper = threading.Thread(target=keep_tuning_deadline, name="deadline-keeper", daemon=True,
                                  kwargs={"study_name": name, "storage": storage, "rule": rule, "stop": stop})
        keeper.start()
        try:
            result = launch(study_name=name, storage=storage, optimizer=FIXED_OPTIMIZER, data=args.data,
                            rungs=(args.epochs,), timeout=budget, seed=args.seed, pruner=FIXED_PRUNER,
                            jobs=JOBS, worker_init=configure_logging)
        finally:
            stop.set()
            keeper.join()
        tuned = time.perf_counter()
        config = export_best(study_name=name, storage=storage, retrain=True, epochs=args.final_epochs,
                             model_out=directory / "final.keras")
        end = time.perf_counter()
        trained, at_top = study_counts(name, storage, 1)
    record = base_record("fixed", args, data, command=reproduce("fixed", args, ["--epochs", str(args.epochs)]))
    record.update(
        test_accuracy=config["test_accuracy"], validation_accuracy=config["validation_accuracy"],
        configurations=trained, reached_final=at_top, top_length=args.epochs,
        configurations_with_queued=result.configurations,
        wall_seconds=end - start, tuning_seconds=tuned - start, final_seconds=end - tuned, params=config["params"],
        final_model=f"trial {config['trial']} retrained {epochs_text(config['retrain']['epochs'])} "
                    "on train + validation",
        validation_note=f"the tuning trial's, after {epochs_text(args.epochs)} (the final model trained on validation)",
        epochs=args.epochs, optimizer=FIXED_OPTIMIZER,
        pruner=FIXED_PRUNER, optimizer_settings=config.get("optimizer_settings"), trials=result.finished,
        epochs_trained=result.epochs, final_trial=config["trial"],
    )
    return record


def kt_build(space) -> Callable[[Any], Any]:
    """A Keras Tuner hypermodel over ``space`` (a :class:`search.space.SearchSpace`), building the product's model."""
    from models.lstm import build_model

    def build(hp):
        params = {}
        for dim in space:
            sampling = "log" if dim.log else "linear"
            if dim.kind == "int":
                params[dim.name] = hp.Int(dim.name, int(dim.low), int(dim.high), sampling=sampling)
            elif dim.kind == "float":
                params[dim.name] = hp.Float(dim.name, dim.low, dim.high, sampling=sampling)
            else:
                params[dim.name] = hp.Choice(dim.name, list(dim.choices))
        return build_model(params)

    return build


class _OutOfTime(Exception):
    """Keras Tuner's search reached its deadline: start no other trial."""


def run_keras_tuner(args: argparse.Namespace) -> dict[str, Any]:
    import keras
    import keras_tuner as kt

    from search.objective import TrainSettings
    from search.space import DEFAULT_SPACE

    budget = args.budget_minutes * SECONDS_PER_MINUTE
    data = load_data(args.data)
    warm_up(data)
    start = time.perf_counter()
    rule = FinalTraining(end=time.time() + budget, epochs=args.final_epochs)
    paces: dict[str, float] = {}  # seconds per epoch of each trial that ran
    begun: dict[str, tuple[float, int]] = {}  # when each trial that ran began, and the epochs it trains

    class TimedHyperband(kt.Hyperband):
        """Hyperband that starts a trial only if it ends in time for its winner's final training."""

        def on_trial_begin(self, trial):
            values = trial.hyperparameters.values
            epochs = values["tuner/epochs"] - values.get("tuner/initial_epoch", 0)
            pace = paces.get(values.get("tuner/trial_id"), statistics.median(paces.values()) if paces else 0.0)
            best = self.oracle.get_best_trials(1)
            winner = paces.get(best[0].trial_id) if best else None
            if not rule.may_start(expected_seconds=pace * epochs, winner_seconds_per_epoch=winner):
                _logger.info("Keras Tuner: trial %s (%s, about %.0f s) would not end in time; tuning ends",
                             trial.trial_id, epochs_text(epochs), pace * epochs)
                raise _OutOfTime
            begun[trial.trial_id] = (time.perf_counter(), epochs)
            super().on_trial_begin(trial)

        def on_trial_end(self, trial):
            began, epochs = begun[trial.trial_id]
            paces[trial.trial_id] = (time.perf_counter() - began) / epochs
            super().on_trial_end(trial)
            _logger.info("Keras Tuner trial %s: %s, score %s, %s epochs, %.1f s/epoch", trial.trial_id, trial.status,
                         trial.score, trial.hyperparameters.values.get("tuner/epochs"), paces[trial.trial_id])

    keras.utils.set_random_seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="best-model-kt-") as tmp:
        tuner = TimedHyperband(kt_build(DEFAULT_SPACE), objective=KT_OBJECTIVE, max_epochs=args.final_epochs,
                               factor=KT_FACTOR, hyperband_iterations=KT_ITERATIONS, seed=args.seed, directory=tmp,
                               project_name="best-model", overwrite=True)
        try:
            tuner.search(data.train.x, data.train.y, batch_size=TrainSettings.batch_size,
                         validation_data=(data.val.x, data.val.y), verbose=0)
        except _OutOfTime:
            pass
        trials = [t for t in tuner.oracle.trials.values() if t.trial_id in begun]  # not the refused one
        best = tuner.oracle.get_best_trials(1)
    tuned = time.perf_counter()
    if not best:
        raise SystemExit("keras-tuner: no trial finished within the budget")
    values = best[0].hyperparameters.values
    params = {dim.name: values[dim.name] for dim in DEFAULT_SPACE}
    validation, test = train_and_score(params, data=data, epochs=args.final_epochs, seed=args.seed)
    end = time.perf_counter()
    completed = [t for t in trials if t.status == kt.engine.trial.TrialStatus.COMPLETED]
    record = base_record("keras-tuner", args, data, command=reproduce("keras-tuner", args, []))
    record.update(
        test_accuracy=test, validation_accuracy=validation,
        configurations=sum(t.hyperparameters.values.get("tuner/round", 0) == 0 for t in trials),
        reached_final=sum(t.hyperparameters.values.get("tuner/epochs") == args.final_epochs for t in completed),
        top_length=args.final_epochs,
        wall_seconds=end - start, tuning_seconds=tuned - start, final_seconds=end - tuned, params=params,
        final_model=f"best hyperparameters trained from scratch {epochs_text(args.final_epochs)} on the train split",
        trials=len(trials), completed_trials=len(completed),
        best_tuning_score=float(best[0].score), best_tuning_epochs=values.get("tuner/epochs"),
        max_epochs=args.final_epochs, factor=KT_FACTOR,
    )
    return record


# ---------------------------------------------------------------------------- the report


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(out_dir: Path, markdown: Path) -> list[str]:
    """The markdown table of every part found in ``out_dir``."""
    found = {}
    for part in PARTS:
        path = out_dir / f"{part}.json"
        if path.is_file():
            found[part] = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        "# Best final model for a fixed compute budget",
        "",
        "Which tuner hands back the best fully trained model when tuning and the final model's training "
        "share one wall-clock budget? Written by `python benchmarks/best_model.py report` from the JSON "
        "files of each part (see the module docstring for what each part does).",
        "",
    ]
    if found:
        first = next(iter(found.values()))
        budgeted = next((r for r in found.values() if r.get("budget_seconds") is not None), first)
        data = first["data"]
        lines += [
            f"Data: {data['given']} ({data['source']}, sha256 {data['sha256'][:DIGEST_SHOWN]}, train {data['train']}, "
            f"validation {data['val']}, test {data['test']}); final length {first['final_epochs']} epochs; "
            f"budget {_budget_text(budgeted)}; seed {first['seed']}.",
            "",
            "| part | final test accuracy | validation accuracy | configurations evaluated "
            "| reached the top rung (its length) | final model | wall s | vs budget s | command |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for part, r in found.items():
            budget = r.get("budget_seconds")
            overrun = "no budget" if budget is None else f"{r['wall_seconds'] - budget:+.0f}"
            validation = _cell(r["validation_accuracy"], 4) + (" *" if r.get("validation_note") else "")
            lines.append(
                f"| {part} | {_cell(r['test_accuracy'], 4)} | {validation} | {r['configurations']} "
                f"| {r['reached_final']} ({epochs_text(r['top_length'])}) | {r['final_model']} "
                f"| {r['wall_seconds']:.0f} | {overrun} "
                f"| `{r['command']}` |")
        lines.append("")
        for part, r in found.items():
            if r.get("validation_note"):
                lines.append(f"\\* {part}: validation accuracy is {r['validation_note']}.")
        differing = _differing(found)
        if differing:
            lines.append(f"Warning: the parts were not run with the same settings ({differing}); "
                         "compare them with care.")
        machines = sorted({r["machine"] for r in found.values()})
        lines += ["", *machines]
    missing = [p for p in PARTS if p not in found]
    lines.append("")
    lines.append(f"Missing parts (no JSON file yet): {', '.join(missing)}." if missing
                 else "All parts are present.")
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"wrote {markdown}")
    return lines


def _budget_text(record: dict[str, Any]) -> str:
    budget = record.get("budget_seconds")
    return "none (the untuned reference)" if budget is None else f"{budget / SECONDS_PER_MINUTE:g} minutes"


def _differing(found: dict[str, dict[str, Any]]) -> str:
    """The settings that differ between the parts found (the untuned part has no budget)."""
    notes = []
    for key, label in (("final_epochs", "final epochs"), ("seed", "seed")):
        if len({r[key] for r in found.values()}) > 1:
            notes.append(label)
    if len({r["data"]["sha256"] for r in found.values()}) > 1:
        notes.append("data")
    if len({r["budget_seconds"] for r in found.values() if r["budget_seconds"] is not None}) > 1:
        notes.append("budget")
    return ", ".join(notes)


# ---------------------------------------------------------------------------- command line


def _rungs(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(word) for word in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--rungs takes whole numbers joined by commas, e.g. 1,3,9,27; got {text!r}") from None


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="MNIST source: a directory of the four IDX files, mnist-5k, ...")
    parser.add_argument("--budget-minutes", type=float, default=DEFAULT_BUDGET_MINUTES,
                        help="wall-clock budget, tuning and final training together (default %(default)g)")
    parser.add_argument("--final-epochs", type=int, default=DEFAULT_FINAL_EPOCHS,
                        help="training length of the final model (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR,
                        help="where the part's JSON goes (default benchmarks/results/best_model)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parts = parser.add_subparsers(dest="part", required=True)
    _common_options(parts.add_parser("untuned", help="LSTM(128), no tuning: the reference"))
    ours = parts.add_parser("ours", help="the product: successive halving over epochs, timeout = the budget")
    _common_options(ours)
    ours.add_argument("--optimizer", choices=OURS_OPTIMIZERS, required=True)
    ours.add_argument("--rungs", type=_rungs, help="epochs per rung, the last = --final-epochs "
                      "(default 1, then x --reduction-factor, up to --final-epochs)")
    ours.add_argument("--reduction-factor", type=int, default=DEFAULT_REDUCTION_FACTOR)
    fixed = parts.add_parser("fixed", help="TPE + median pruner on one rung, then the winner retrained")
    _common_options(fixed)
    fixed.add_argument("--epochs", type=int, default=FIXED_EPOCHS, help="epochs per trial (default %(default)s)")
    _common_options(parts.add_parser("keras-tuner", help="Keras Tuner Hyperband, then its best trained from scratch"))
    rep = parts.add_parser("report", help="assemble the markdown table from the JSON files")
    rep.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="where the parts' JSON files are")
    rep.add_argument("--markdown", type=Path, default=DEFAULT_MARKDOWN,
                     help="the report to write (default benchmarks/results/best_model.md)")
    args = parser.parse_args(argv)
    if args.part == "ours":
        from search.schedulers import Rungs

        if args.rungs is None:
            args.rungs = Rungs.geometric(top=args.final_epochs, first=FIRST_RUNG, factor=args.reduction_factor).epochs
        if args.rungs[-1] != args.final_epochs:
            parser.error(f"the last of --rungs ({args.rungs[-1]}) must be --final-epochs ({args.final_epochs})")
    return args


RUNNERS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "untuned": run_untuned,
    "ours": run_ours,
    "fixed": run_fixed,
    "keras-tuner": run_keras_tuner,
}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.part == "report":
        report(args.out_dir, args.markdown)
        return 0
    configure_logging()
    record = RUNNERS[args.part](args)
    write_part(args.out_dir, record["part"], record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
