"""What one admission costs: one worker on a PostgreSQL study, trials that do nothing (issue #13).

One worker runs the product's worker loop (``studies.running.worker.serve_setup``) in this
process for ``--trials`` trials of a one-rung study whose objective only samples its
parameters, and counts every SQL statement, inside the study's lock and outside it, and
how long each admission held the lock. The held time bounds how many trials one study
can admit per second, whatever the number of workers; the statements are its database
round trips.

    python benchmarks/admission.py --trials 100 --optimizer random
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import machine_line  # noqa: E402
from benchmarks.scaleout import sleep_setup, sleep_study  # noqa: E402
from studies.running.worker import serve_setup  # noqa: E402
from studies.store import budget as budget_module  # noqa: E402
from studies.store.locks import StudyLock  # noqa: E402

STATEMENT_SHOWN = 60
MS_PER_S = 1000.0


class _Watch:
    """Counts the statements run inside and outside the study lock, and the lock's held times."""

    def __init__(self) -> None:
        self.inside: collections.Counter[str] = collections.Counter()
        self.outside: collections.Counter[str] = collections.Counter()
        self.held: list[float] = []
        self._since: float | None = None

    def statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        key = re.sub(r"\s+", " ", statement)[:STATEMENT_SHOWN]
        (self.inside if self._since is not None else self.outside)[key] += 1

    def wrap(self, lock: StudyLock) -> StudyLock:
        acquire, release = lock.acquire, lock.release

        def acquired() -> None:
            acquire()
            self._since = time.perf_counter()

        def released() -> None:
            if self._since is not None:
                self.held.append(time.perf_counter() - self._since)
                self._since = None
            release()

        lock.acquire, lock.release = acquired, released  # type: ignore[method-assign]
        return lock


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage-env", default="LSTM_TUNER_TEST_POSTGRES_URL",
                        help="environment variable holding the PostgreSQL URL (never on the command line)")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--optimizer", default="random")
    args = parser.parse_args()
    url = os.environ[args.storage_env]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    watch = _Watch()
    event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", watch.statement)
    lock_of = budget_module.lock_of
    budget_module.lock_of = lambda study: watch.wrap(lock_of(study))  # type: ignore[assignment]
    name = f"admission-{int(time.time())}"
    study = sleep_study(url, name, optimizer=args.optimizer, budget=args.trials)
    setup = sleep_setup(study, optimizer=args.optimizer, seed=0, seconds=0.0)
    watch.inside.clear()
    watch.outside.clear()
    began, cpu = time.perf_counter(), time.process_time()
    serve_setup(setup)
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    n = len(study.get_trials(deepcopy=False))
    optuna.delete_study(study_name=name, storage=url)
    print(f"`python benchmarks/admission.py --trials {args.trials} --optimizer {args.optimizer}` ({machine_line()})")
    print(f"{n} trials: {wall / n * MS_PER_S:.1f} ms and {cpu / n * MS_PER_S:.1f} ms of this process's CPU per "
          f"trial; the lock held for {statistics.median(watch.held) * MS_PER_S:.1f} ms per admission (median "
          f"of {len(watch.held)}); SQL statements per trial: {sum(watch.inside.values()) / n:.1f} inside the lock, "
          f"{sum(watch.outside.values()) / n:.1f} outside")
    for title, counter in (("inside the lock", watch.inside), ("outside", watch.outside)):
        print(f"\nper trial, {title}:")
        for statement, count in counter.most_common():
            print(f"  {count / n:5.1f}  {statement}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
