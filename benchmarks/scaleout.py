"""Coordination cost of many workers on one PostgreSQL study (issue #13).

N worker processes run the product's own worker loop (``studies.running.worker``: the
study's budget under the database lock, the trial loop, Optuna's heartbeat) on one TPE
study whose trials only sleep for ``--sleep`` seconds, so the database, not training, is
what could slow them. Prints, and writes to ``benchmarks/results/scaleout.md``, trials
per second against the ideal N / sleep, and the database round trips per trial (from
PostgreSQL's transaction counter for the database).

    python benchmarks/scaleout.py --storage-env LSTM_TUNER_TEST_POSTGRES_URL --workers 8 16 32
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from pathlib import Path

import optuna
import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
TRIALS_PER_WORKER = 4
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


def _worker(url: str, name: str, worker: int, seconds: float, start: object, optimizer: str, cpu: object,
            ready: object) -> None:
    from search.optimizers import create_optimizer
    from search.space import DEFAULT_SPACE
    from studies.config import StudySetup, worker_seed
    from studies.running.worker import serve_setup
    from studies.store.record import StudyRecord
    from studies.store.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=open_storage(url, must_exist=True))
    record = StudyRecord.read(study)
    assert record is not None
    setup = StudySetup(study=study, record=record, objective=_sleep_objective(seconds),
                       optimizer=create_optimizer(optimizer, seed=worker_seed(0, worker), budget=record.budget,
                                                  options={}),
                       space=DEFAULT_SPACE)
    ready.put(worker)  # type: ignore[attr-defined]  # imported, connected, set up
    start.wait()  # type: ignore[attr-defined]
    began = time.process_time()
    serve_setup(setup)
    cpu.put(time.process_time() - began)  # type: ignore[attr-defined]  # this process's CPU, all threads


def _transactions(url: str) -> int:
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        value = connection.execute(sqlalchemy.text(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")).scalar()
    engine.dispose()
    return int(value or 0)


def measure(url: str, workers: int, seconds: float, optimizer: str) -> dict[str, float | str]:
    from search.optimizers import create_optimizer
    from search.space import DEFAULT_SPACE
    from studies.store.record import StudyRecord
    from studies.store.storage import open_storage

    name = f"scaleout-{workers}-{int(time.time())}"
    budget = workers * TRIALS_PER_WORKER
    study = optuna.create_study(study_name=name, storage=open_storage(url, must_exist=False), direction="maximize")
    settings = create_optimizer(optimizer, seed=0, budget=budget, options={}).settings()
    StudyRecord(optimizer=optimizer, optimizer_settings=settings, seed=0, budget=budget, initial_budget=budget,
                space=DEFAULT_SPACE.to_dict(), train={}, data={"source": "none"}, pruner="none",
                max_failures=5).write(study)
    context = multiprocessing.get_context("spawn")
    start, cpu_queue, ready = context.Event(), context.Queue(), context.Queue()
    processes = [context.Process(target=_worker, args=(url, name, w, seconds, start, optimizer, cpu_queue, ready))
                 for w in range(workers)]
    for process in processes:
        process.start()
    for _ in processes:  # the clock starts once every worker has imported, connected and set up
        ready.get(timeout=READY_TIMEOUT_S)
    before = _transactions(url)
    began = time.perf_counter()
    start.set()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - began
    cpu = sum(cpu_queue.get(timeout=QUEUE_TIMEOUT_S) for _ in processes)  # the workers' CPU from the start signal
    transactions = _transactions(url) - before
    finished = len(study.get_trials(deepcopy=False))
    optuna.delete_study(study_name=name, storage=url)
    ideal = workers / seconds
    return {"optimizer": optimizer, "workers": workers, "trials": finished, "cpu_per_trial": cpu / max(finished, 1),
            "budget": budget, "seconds": elapsed,
            "per_second": finished / elapsed, "ideal": ideal, "share": finished / elapsed / ideal,
            "round_trips_per_trial": transactions / max(finished, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage-env", default="LSTM_TUNER_TEST_POSTGRES_URL",
                        help="environment variable holding the PostgreSQL URL (never on the command line)")
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds each trial sleeps")
    parser.add_argument("--optimizers", nargs="+", default=["tpe", "random"],
                        help="samplers the workers use (random separates the database from TPE's CPU)")
    args = parser.parse_args()
    url = os.environ[args.storage_env]
    rows = [measure(url, workers, args.sleep, optimizer)
            for optimizer in args.optimizers for workers in args.workers]
    lines = [
        "# Coordination cost: workers on one PostgreSQL study, trials that only sleep",
        "",
        f"Command: `python benchmarks/scaleout.py --workers {' '.join(map(str, args.workers))} --sleep {args.sleep:g} "
        f"--optimizers {' '.join(args.optimizers)}`"
        f" (PostgreSQL 15 on loopback, 2 cores; {TRIALS_PER_WORKER} trials per worker)",
        "",
        "| sampler | workers | trials | seconds | trials/s | ideal trials/s | share of ideal "
        "| DB transactions per trial | worker CPU s per trial |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['optimizer']} | {r['workers']} | {r['trials']}/{r['budget']} | {r['seconds']:.1f} | "
                     f"{r['per_second']:.2f} | {r['ideal']:.1f} | {r['share']:.0%} | {r['round_trips_per_trial']:.0f} "
                     f"| {r['cpu_per_trial']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "benchmarks" / "results" / "scaleout.md"
    out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
