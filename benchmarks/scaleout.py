"""Coordination cost of many workers on one PostgreSQL study (issue #13).

Two measurements, each printed as a Markdown table (``--out`` writes them to a file):

- Coordination: N worker processes run the product's own worker loop
  (``studies.running.worker``: the study's budget under the database lock, the trial
  loop, Optuna's heartbeat) on one study whose trials only sleep for ``--sleep`` seconds,
  so the database, not training, is what could slow them: trials per second against the
  ideal N / sleep, the database transactions per trial (PostgreSQL's counter for the
  database), the workers' CPU per trial and how busy the whole machine was.
- Training (``--train-jobs``): ``launch`` with J local worker processes trains small
  LSTMs (one layer of 8 to 16 units, one epoch of mnist-5k) on a PostgreSQL study: trials
  per hour, counted from the launch (worker start-up included) and from the first trial's
  start to the last one's end.

    python benchmarks/scaleout.py --workers 8 16 32 --optimizers tpe random
    python benchmarks/scaleout.py --workers --train-jobs 1 2 4
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import optuna
import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import machine_line  # noqa: E402

TRIALS_PER_WORKER = 4
TRAIN_TRIALS_PER_JOB = 6
SECONDS_PER_HOUR = 3600.0
# The small models of the training measurement, and the data they train on.
SMALL_SPACE = {"dimensions": {"num_layers": {"type": "categorical", "choices": [1]},
                              "units": {"type": "int", "low": 8, "high": 16}}}
SMALL_DATA = "mnist-5k"
POLL_S = 0.1
QUEUE_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 600.0


def _sleep_objective(seconds: float):
    from search.space import DEFAULT_SPACE

    def objective(trial: optuna.Trial) -> float:
        DEFAULT_SPACE.suggest(trial)
        time.sleep(seconds)
        return 0.5

    objective.space = DEFAULT_SPACE  # type: ignore[attr-defined]
    objective.worst_value = 0.0  # type: ignore[attr-defined]
    return objective


def sleep_study(url: str, name: str, *, optimizer: str, budget: int) -> optuna.Study:
    """A new one-rung study of ``budget`` trials at ``url`` whose record names ``optimizer``
    and the default space, for workers whose trials only sleep."""
    from search.optimizers import create_optimizer
    from search.space import DEFAULT_SPACE
    from studies.store.record import StudyRecord
    from studies.store.storage import open_storage

    study = optuna.create_study(study_name=name, storage=open_storage(url, must_exist=False), direction="maximize")
    settings = create_optimizer(optimizer, seed=0, budget=budget, options={}).settings()
    StudyRecord(optimizer=optimizer, optimizer_settings=settings, seed=0, budget=budget, initial_budget=budget,
                space=DEFAULT_SPACE.to_dict(), train={}, data={"source": "none"}, pruner="none",
                max_failures=5).write(study)
    return study


def sleep_setup(study: optuna.Study, *, optimizer: str, seed: int, seconds: float):
    """What a worker of a :func:`sleep_study` runs: its recorded budget, ``optimizer`` seeded
    with ``seed``, trials that sleep ``seconds``."""
    from search.optimizers import create_optimizer
    from search.space import DEFAULT_SPACE
    from studies.config import StudySetup
    from studies.store.record import StudyRecord

    record = StudyRecord.read(study)
    if record is None:
        raise SystemExit(f"study {study.study_name!r} has no record")
    return StudySetup(study=study, record=record, objective=_sleep_objective(seconds),
                      optimizer=create_optimizer(optimizer, seed=seed, budget=record.budget, options={}),
                      space=DEFAULT_SPACE)


def _worker(url: str, name: str, worker: int, seconds: float, start: object, optimizer: str, cpu: object,
            ready: object) -> None:
    from studies.config import worker_seed
    from studies.running.worker import serve_setup
    from studies.store.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=open_storage(url, must_exist=True))
    setup = sleep_setup(study, optimizer=optimizer, seed=worker_seed(0, worker), seconds=seconds)
    ready.put(worker)  # type: ignore[attr-defined]  # imported, connected, set up
    start.wait()  # type: ignore[attr-defined]
    began = time.process_time()
    serve_setup(setup)
    cpu.put(time.process_time() - began)  # type: ignore[attr-defined]  # this process's CPU, all threads


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from ``/proc/stat``."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def _busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    busy, total = (a - b for a, b in zip(after, before, strict=True))
    return busy / total if total else 0.0


class _ConnectionPeak:
    """The most connections to the study's database seen while it runs (polled every POLL_S)."""

    def __init__(self, url: str) -> None:
        self._engine = sqlalchemy.create_engine(url)
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        with self._engine.connect() as connection:
            while not self._stop.wait(POLL_S):
                count = connection.execute(sqlalchemy.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")).scalar()
                self.peak = max(self.peak, int(count or 0) - 1)  # not this connection

    def __enter__(self) -> _ConnectionPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._engine.dispose()


def _transactions(url: str) -> int:
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        value = connection.execute(sqlalchemy.text(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")).scalar()
    engine.dispose()
    return int(value or 0)


def measure(url: str, workers: int, seconds: float, optimizer: str, per_worker: int) -> dict[str, float | str]:
    name = f"scaleout-{workers}-{int(time.time())}"
    budget = workers * per_worker
    study = sleep_study(url, name, optimizer=optimizer, budget=budget)
    context = multiprocessing.get_context("spawn")
    start, cpu_queue, ready = context.Event(), context.Queue(), context.Queue()
    processes = [context.Process(target=_worker, args=(url, name, w, seconds, start, optimizer, cpu_queue, ready))
                 for w in range(workers)]
    for process in processes:
        process.start()
    for _ in processes:  # the clock starts once every worker has imported, connected and set up
        ready.get(timeout=READY_TIMEOUT_S)
    before = _transactions(url)
    cpu_before = _cpu_jiffies()
    began = time.perf_counter()
    with _ConnectionPeak(url) as connections:
        start.set()
        for process in processes:
            process.join()
    elapsed = time.perf_counter() - began
    busy = _busy_share(cpu_before, _cpu_jiffies())
    cpu = sum(cpu_queue.get(timeout=QUEUE_TIMEOUT_S) for _ in processes)  # the workers' CPU from the start signal
    transactions = _transactions(url) - before
    finished = len(study.get_trials(deepcopy=False))
    optuna.delete_study(study_name=name, storage=url)
    ideal = workers / seconds
    return {"optimizer": optimizer, "workers": workers, "trials": finished, "cpu_per_trial": cpu / max(finished, 1),
            "budget": budget, "seconds": elapsed,
            "per_second": finished / elapsed, "ideal": ideal, "share": finished / elapsed / ideal,
            "round_trips_per_trial": transactions / max(finished, 1), "busy": busy,
            "connections": connections.peak}


def measure_training(url: str, jobs: int, per_job: int) -> dict[str, float]:
    """Trials per hour of ``launch`` with ``jobs`` local workers training small LSTMs."""
    from search.space import DEFAULT_SPACE, SearchSpace
    from studies.launch import launch

    name = f"scaleout-train-{jobs}-{int(time.time())}"
    with tempfile.TemporaryDirectory(prefix="scaleout-") as tmp:
        cpu_before = _cpu_jiffies()
        began = time.perf_counter()
        space = SearchSpace.from_dict(SMALL_SPACE, base=DEFAULT_SPACE)
        result = launch(study_name=name, storage=url, data=SMALL_DATA, space=space,
                        rungs=(1,), trials=jobs * per_job, jobs=jobs, seed=0, artifacts=Path(tmp) / "artifacts")
        elapsed = time.perf_counter() - began
        busy = _busy_share(cpu_before, _cpu_jiffies())
    trials = optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
    span = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
    optuna.delete_study(study_name=name, storage=url)
    return {"jobs": jobs, "trials": result.finished, "seconds": elapsed, "busy": busy,
            "per_hour": result.finished / elapsed * SECONDS_PER_HOUR,
            "per_hour_running": result.finished / span * SECONDS_PER_HOUR,
            "trial_seconds": sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials)
            / len(trials)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage-env", default="LSTM_TUNER_TEST_POSTGRES_URL",
                        help="environment variable holding the PostgreSQL URL (never on the command line)")
    parser.add_argument("--workers", type=int, nargs="*", default=[8, 16, 32],
                        help="numbers of sleeping workers to measure coordination with (none: skip)")
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds each trial sleeps")
    parser.add_argument("--trials-per-worker", type=int, default=TRIALS_PER_WORKER)
    parser.add_argument("--optimizers", nargs="+", default=["tpe", "random"],
                        help="samplers the workers use (random separates the database from TPE's CPU)")
    parser.add_argument("--train-jobs", type=int, nargs="*", default=[],
                        help="numbers of local worker processes training small LSTMs (none: skip)")
    parser.add_argument("--train-trials-per-job", type=int, default=TRAIN_TRIALS_PER_JOB)
    parser.add_argument("--out", type=Path, help="also write the tables to this Markdown file")
    args = parser.parse_args()
    url = os.environ[args.storage_env]
    lines: list[str] = []
    if args.workers:
        rows = [measure(url, workers, args.sleep, optimizer, args.trials_per_worker)
                for optimizer in args.optimizers for workers in args.workers]
        lines += [
            f"Coordination: `python benchmarks/scaleout.py --workers {' '.join(map(str, args.workers))} "
            f"--sleep {args.sleep:g} --trials-per-worker {args.trials_per_worker} "
            f"--optimizers {' '.join(args.optimizers)}` ({machine_line()})",
            "",
            "| sampler | workers | trials | seconds | trials/s | ideal trials/s | share of ideal "
            "| DB transactions per trial | worker CPU s per trial | machine CPU busy | peak DB connections |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(f"| {r['optimizer']} | {r['workers']} | {r['trials']}/{r['budget']} | {r['seconds']:.1f} | "
                         f"{r['per_second']:.2f} | {r['ideal']:.1f} | {r['share']:.0%} "
                         f"| {r['round_trips_per_trial']:.0f} | {r['cpu_per_trial']:.3f} | {r['busy']:.0%} "
                         f"| {r['connections']} |")
        lines.append("")
    if args.train_jobs:
        trained = [measure_training(url, jobs, args.train_trials_per_job) for jobs in args.train_jobs]
        lines += [
            f"Training: `python benchmarks/scaleout.py --workers --train-jobs {' '.join(map(str, args.train_jobs))} "
            f"--train-trials-per-job {args.train_trials_per_job}` (one LSTM layer of 8-16 units, one epoch of "
            f"{SMALL_DATA}; {machine_line()})",
            "",
            "| worker processes | trials | seconds | trials/hour from launch | trials/hour while trials ran "
            "| mean trial seconds | machine CPU busy |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in trained:
            lines.append(f"| {r['jobs']} | {r['trials']} | {r['seconds']:.0f} | {r['per_hour']:.0f} "
                         f"| {r['per_hour_running']:.0f} | {r['trial_seconds']:.1f} | {r['busy']:.0%} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
