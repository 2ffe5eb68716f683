"""Trial time of a comparison's study when some trials' workers died."""

from __future__ import annotations

import datetime

import optuna
import pytest
from optuna.trial import TrialState

from search.space import DEFAULT_SPACE
from studies.compare.collect import StudyRun
from studies.compare.metrics import run_metrics
from studies.store.record import StudyRecord

START = datetime.datetime(2026, 1, 1)
HOUR_S = 3600.0
C, F = TrialState.COMPLETE, TrialState.FAIL
DIED = {"fail_kind": "worker_died", "fail_reason": "worker process 7 died"}


def _trial(number, state, seconds, attrs, value=None):
    trial = optuna.trial.create_trial(state=state, value=value, user_attrs=attrs)
    trial.number = number
    trial.datetime_start = START + datetime.timedelta(hours=10 * number)
    trial.datetime_complete = trial.datetime_start + datetime.timedelta(seconds=seconds)
    return trial


def _metrics(outcomes, *, target=0.9, rungs=(1,)):
    record = StudyRecord(optimizer="tpe", optimizer_settings={}, seed=0, budget=len(outcomes),
                         space=DEFAULT_SPACE.to_dict(), train={"epochs": rungs[-1], "batch_size": 128,
                                                               "rungs": list(rungs)},
                         data={"source": "x", "train": 1, "val": 1, "test": 1})
    trials = tuple(_trial(i, *outcome) for i, outcome in enumerate(outcomes))
    return run_metrics(StudyRun(name="s", record=record, trials=trials, cache_hits=0), target=target)


def test_a_dead_workers_trial_counts_what_it_ran_or_is_counted_unknown():
    m = _metrics([
        (C, 3.0, {}, 0.5),
        (F, 5 * HOUR_S, {**DIED, "ran_seconds": 7.0}),  # failed by the next run, hours later
        (F, 2 * HOUR_S, DIED),  # no heartbeat: unknown, counted 0
        (F, 4.0, {"fail_kind": "diverged", "fail_reason": "loss nan"}),
        (F, 10.0, {**DIED, "ran_seconds": 9000.0}),  # clocks apart: never more than its duration
        (C, 6.0, {**DIED, "ran_seconds": 1.0}, 0.95),  # finished by its own worker after all: its duration
    ])
    assert m["elapsed_seconds"] == [3.0, 10.0, 10.0, 14.0, 24.0, 30.0]
    assert (m["trial_seconds"], m["unknown_durations"], m["failed"]) == (30.0, 1, 4)
    assert (m["trials_to_target"], m["seconds_to_target"]) == (6, 30.0)


def test_without_dead_workers_trial_time_is_the_summed_durations():
    m = _metrics([(C, 2.0, {}, 0.5), (F, 4.0, {"fail_reason": "loss nan"}), (C, 1.5, {}, 0.95)])
    assert m["elapsed_seconds"] == pytest.approx([2.0, 6.0, 7.5])
    assert m["unknown_durations"] == 0


def test_the_best_so_far_is_the_final_models_and_compute_counts_epochs():
    screened = {"epochs_run": 1}
    promoted = {"rung": 1, "start_epoch": 1, "end_epoch": 3, "continues": 0, "screened_in": 0, "epochs_run": 2}
    m = _metrics([(C, 1.0, screened, 0.97), (C, 1.0, screened, 0.5), (C, 2.0, promoted, 0.95),
                  (C, 1.0, screened, 0.99)], target=0.96, rungs=(1, 3))
    # a 3-epoch 0.95 is the final model over a 1-epoch 0.97; a later 1-epoch 0.99 does not replace it
    assert m["best_so_far"] == [0.97, 0.97, 0.95, 0.95] and m["best"] == 0.95
    assert m["epochs_so_far"] == [1, 2, 4, 5] and m["epochs"] == 5 and m["configurations"] == 3
    # the target is first met by the final model after 1 epoch; the top rung (3 epochs) holds one configuration
    assert (m["trials_to_target"], m["epochs_to_target"], m["at_top_rung"]) == (1, 1, 1)


def test_epochs_to_target_count_the_compute_spent_until_the_final_model_reached_it():
    screened = {"epochs_run": 1}
    promoted = {"rung": 1, "start_epoch": 1, "end_epoch": 3, "continues": 1, "screened_in": 1, "epochs_run": 2}
    m = _metrics([(C, 1.0, screened, 0.5), (C, 1.0, screened, 0.8), (F, 1.0, {"epochs_run": 1}),
                  (C, 2.0, promoted, 0.93)], target=0.9, rungs=(1, 3))
    assert m["epochs_so_far"] == [1, 2, 3, 5]
    assert (m["trials_to_target"], m["epochs_to_target"], m["seconds_to_target"], m["at_top_rung"]) == (4, 5, 5.0, 1)
