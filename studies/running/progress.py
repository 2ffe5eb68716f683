"""Callbacks every run installs: a log line per finished trial, a progress bar, and a
stop after too many consecutive failures."""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.trial import TrialState

from search.failures import FAIL_REASON_ATTR
from search.schedulers import final_trial
from search.schedulers.segments import END_ATTR, PARENT_ATTR, RUNG_ATTR

_logger = logging.getLogger(__name__)


class TooManyFailures(RuntimeError):
    """The run stopped because the last ``k`` trials all failed."""


class TrialLogger:
    """One INFO line per finished trial (state, value, params, best so far), and a tqdm bar
    of finished trials out of ``total`` (None: not known in advance, the bar counts)."""

    def __init__(self, *, total: int | None, done: int, progress: bool) -> None:
        self._bar = _make_bar(total=total, done=done) if progress else None

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        best = final_trial(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        best_text = f"final model {best.value:.4f} (trial {best.number})" if best else "no final model yet"
        if trial.state == TrialState.COMPLETE:
            outcome = f"value {trial.value:.4f}"
        elif trial.state == TrialState.FAIL:
            outcome = f"FAIL ({trial.user_attrs.get(FAIL_REASON_ATTR, 'see log')})"
        else:
            outcome = trial.state.name
        duration = trial.duration.total_seconds() if trial.duration else 0.0
        rung = trial.user_attrs.get(RUNG_ATTR)
        continued = (f" (rung {rung}: trial {trial.user_attrs.get(PARENT_ATTR)} continued to epoch "
                     f"{trial.user_attrs.get(END_ATTR)})" if rung else "")
        _logger.info(
            "Trial %d %s in %.1fs%s, params %s; %s",
            trial.number, outcome, duration, continued, _short(trial.params), best_text,
        )
        if self._bar is not None:
            self._bar.update(1)
            if best:
                self._bar.set_postfix(best=f"{best.value:.4f}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class FailureGuard:
    """Raise :class:`TooManyFailures` after ``limit`` consecutive FAIL trials of this run."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._streak = 0

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state != TrialState.FAIL:
            self._streak = 0
            return
        self._streak += 1
        if self._streak >= self._limit:
            reason = trial.user_attrs.get(FAIL_REASON_ATTR, "unknown error (see the log)")
            raise TooManyFailures(
                f"stopped after {self._limit} consecutive failed trials; the last (trial "
                f"{trial.number}) failed with: {reason}. Narrow the search space or raise "
                "--max-failures."
            )


def _make_bar(*, total: int | None, done: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, unit="trial", desc="trials", dynamic_ncols=True)


def _short(params: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()) + "}"
