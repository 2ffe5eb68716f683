"""Successive halving over epochs: which configuration trains next, and how far.

The scheduler is passive (Ray Tune's scheduler role): given a study's trials and its
limits, :meth:`SuccessiveHalving.decide` says what the next free worker should do, and
the study's budget keeper (:mod:`studies.store.budget`) acts on it under the study's lock.

The rule is asynchronous successive halving (ASHA, Li et al. 2020): a configuration that
completed rung ``k`` and ranks in the top ``1 / reduction_factor`` of the configurations
that completed rung ``k`` so far is promoted to rung ``k + 1``, continuing from its
checkpoint; promotions from higher rungs go first; with nothing to promote, a new
configuration is screened at rung 0. Two rungs with a large factor is "screen everything
short, train the best few fully" (Egele et al. 2023); one rung is fixed-length training.

Two additions make a finite budget end with a final model:

- with an epoch budget, nothing is admitted that would leave less than what the
  configuration furthest along still needs to reach the top rung;
- once no new configuration may start and nothing runs, the best configuration of the
  highest rung below the top is promoted even when the ranking rule would not, until one
  configuration has completed the top rung.

A third spends the end of a budget where it can still change the final model, which is
the best of the top rung: once a new configuration could no longer reach the top rung
within the epochs or time left (its screening, then the rest of the way at the reserve
pace below), none is screened, even under the ``trials`` cap; the ranking rule's promotions
go on, and when none is left, the best configuration that can still reach the top rung in
what is left (at its own pace) goes on, highest rung first, even after one has reached it,
and without waiting for the trials still running (their epochs and the way to the top of
the one furthest along stay reserved). A screening past that point could never become the
final model.

With a time limit, a segment starts only if it is expected to end in time, and, as with
an epoch budget, early enough to leave the configuration furthest along the time it needs
to reach the top rung. A promotion takes its configuration's seconds per epoch so far
(``train_seconds`` / ``epochs_run`` of the trial it continues), a new configuration the
median time of the screenings so far, and the reserve the median seconds per epoch of the
highest rung with a finished segment (a first epoch's graph tracing makes the early
estimates high, so the reserve errs on the safe side), or, for a promotion that becomes
the furthest along, that configuration's own pace if slower: it may be the best, and
then it is the one that must reach the top.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import statistics
from collections.abc import Sequence

import optuna
from optuna.trial import TrialState

from models.errors import ConfigError
from search.failures import FAIL_KIND_ATTR, is_retried
from search.schedulers.segments import (
    TRAIN_SECONDS_ATTR,
    Rungs,
    Segment,
    config_of,
    epochs_counted,
    finite_value,
    rung_of,
    seconds_per_epoch,
)

DEFAULT_REDUCTION_FACTOR = 3
MAX_REDUCTION_FACTOR = 1000
# A promotion whose trial failed for the run's sake (a worker died) is tried again this many times.
PROMOTION_RETRIES = 1
_ACTIVE = (TrialState.RUNNING, TrialState.WAITING)


@dataclasses.dataclass(frozen=True)
class Limits:
    """What a study may spend: ``trials`` configurations, ``epochs`` training epochs and
    ``seconds`` of time left (None: no limit)."""

    trials: int
    epochs: int | None = None
    seconds: float | None = None


class Kind(enum.Enum):
    PROMOTE = "continue a configuration to its next rung"
    QUEUED = "take the oldest queued trial"
    NEW = "screen a new configuration"
    IDLE = "nothing to start now; running or queued trials may change that"
    DONE = "the study is finished"


@dataclasses.dataclass(frozen=True)
class Decision:
    kind: Kind
    # For PROMOTE: the trial whose configuration goes on, and the segment it trains next.
    parent: optuna.trial.FrozenTrial | None = None
    segment: Segment | None = None


class SuccessiveHalving:
    """ASHA over ``rungs``, keeping the top ``1 / reduction_factor`` at each rung."""

    def __init__(self, *, rungs: Rungs, reduction_factor: int = DEFAULT_REDUCTION_FACTOR) -> None:
        if isinstance(reduction_factor, bool) or not isinstance(reduction_factor, int) \
                or not 2 <= reduction_factor <= MAX_REDUCTION_FACTOR:
            raise ConfigError(f"--reduction-factor must be a whole number from 2 to {MAX_REDUCTION_FACTOR} "
                              f"(the share of a rung promoted is 1/factor), but got {reduction_factor!r}")
        self.rungs = rungs
        self.reduction_factor = reduction_factor

    def check_limits(self, limits: Limits) -> None:
        """Raise unless the epoch budget can train at least one configuration to the top rung."""
        if limits.epochs is not None and limits.epochs < self.rungs.top:
            raise ConfigError(f"--epoch-budget {limits.epochs} cannot train one model to the top rung of "
                              f"{self.rungs.top} epochs; give at least {self.rungs.top}, or lower --epochs")

    def decide(self, trials: Sequence[optuna.trial.FrozenTrial], *, limits: Limits, may_create: bool) -> Decision:
        """What a free worker should do now (``may_create``: whether it may sample a new configuration)."""
        books = _Books(trials, self.rungs)
        promotion = self._promotion(books, limits)
        if promotion is not None:
            return promotion
        if books.waiting:
            return Decision(Kind.QUEUED)
        new_room = self._room(books, limits)
        if new_room and may_create:
            return Decision(Kind.NEW)
        if books.active or new_room:
            # others still train; past the point a new configuration could reach the top, this worker need not wait
            push = None if new_room else self._another_to_the_top(books, limits)
            return push if push is not None else Decision(Kind.IDLE)
        last = self._final_push(books, limits)
        return last if last is not None else Decision(Kind.DONE)

    def room(self, trials: Sequence[optuna.trial.FrozenTrial], *, limits: Limits) -> int:
        """How many new configurations may be screened (queued or started) now."""
        return self._room(_Books(trials, self.rungs), limits)

    def _room(self, books: _Books, limits: Limits) -> int:
        room = max(0, limits.trials - books.configurations)
        # time for a new configuration to reach the top also covers what the one furthest along needs
        if self._out_of_reach(books, limits):
            return 0
        first = self.rungs.epochs[0]
        need = self.rungs.top - max(books.reached, first)
        if limits.epochs is None or room == 0:
            return room
        return max(0, min(room, (limits.epochs - books.epochs - need) // first))

    def _fits(self, books: _Books, limits: Limits, segment: Segment, parent: optuna.trial.FrozenTrial) -> bool:
        need = self.rungs.top - max(books.reached, segment.end)
        if limits.seconds is not None:
            rate = seconds_per_epoch(parent)
            # a configuration that becomes the furthest along may be the one to finish: keep its own pace
            reserve_rate = max(books.reserve_rate(), rate) if segment.end >= books.reached else books.reserve_rate()
            if rate * segment.epochs + need * reserve_rate > limits.seconds:
                return False
        if limits.epochs is None:
            return True
        return books.epochs + segment.epochs + need <= limits.epochs

    def _promotion(self, books: _Books, limits: Limits) -> Decision | None:
        """The ASHA promotion, highest rung first."""
        for rung in reversed(range(len(self.rungs) - 1)):
            ranked = books.ranked(rung)
            for trial in ranked[: len(ranked) // self.reduction_factor]:
                decision = self._promote(books, limits, trial)
                if decision is not None:
                    return decision
        return None

    def _out_of_reach(self, books: _Books, limits: Limits) -> bool:
        """Whether a new configuration could no longer reach the top rung in the epochs or time left."""
        top, first = self.rungs.top, self.rungs.epochs[0]
        if limits.epochs is not None and books.epochs + top > limits.epochs:
            return True
        return limits.seconds is not None \
            and books.screening_seconds() + (top - first) * books.reserve_rate() > limits.seconds

    def _final_push(self, books: _Books, limits: Limits) -> Decision | None:
        """With the study otherwise over: take the best configuration on towards the top rung."""
        top = len(self.rungs) - 1
        if books.ranked(top):
            return self._another_to_the_top(books, limits)
        for rung in reversed(range(top)):
            for trial in books.ranked(rung):
                decision = self._promote(books, limits, trial)
                if decision is not None:
                    return decision
            if books.ranked(rung):
                return None  # the best of the highest rung reached cannot go on: the budget is spent
        return None

    def _another_to_the_top(self, books: _Books, limits: Limits) -> Decision | None:
        """Past the point where a new configuration could reach the top rung, with configurations
        left to screen: the best that can still reach it in what is left, highest rung first."""
        if books.configurations >= limits.trials or not self._out_of_reach(books, limits):
            return None
        for rung in reversed(range(len(self.rungs) - 1)):
            for trial in books.ranked(rung):
                if self._reaches_top(books, limits, trial) \
                        and (decision := self._promote(books, limits, trial)) is not None:
                    return decision
        return None

    def _reaches_top(self, books: _Books, limits: Limits, trial: optuna.trial.FrozenTrial) -> bool:
        """Whether ``trial``'s configuration can train on to the top rung within the limits, at its own pace."""
        rest = self.rungs.top - Segment.of(trial, self.rungs).end
        if limits.epochs is not None and books.epochs + rest > limits.epochs:
            return False
        return limits.seconds is None or seconds_per_epoch(trial) * rest <= limits.seconds

    def _promote(self, books: _Books, limits: Limits, trial: optuna.trial.FrozenTrial) -> Decision | None:
        if books.promoted(trial):
            return None
        segment = Segment.promotion(trial, self.rungs)
        if segment.resume_from is None or not self._fits(books, limits, segment, trial):
            return None
        return Decision(Kind.PROMOTE, parent=trial, segment=segment)


def final_trial(trials: Sequence[optuna.trial.FrozenTrial]) -> optuna.trial.FrozenTrial | None:
    """The study's final model: the best COMPLETE trial of the highest rung any reached."""
    scored = [(rung_of(t), v, t) for t in trials if (v := finite_value(t)) is not None]
    if not scored:
        return None
    return max(scored, key=lambda item: (item[0], item[1]))[2]


class _Books:
    """What the scheduler needs to know about a study's trials, computed once per decision."""

    def __init__(self, trials: Sequence[optuna.trial.FrozenTrial], rungs: Rungs) -> None:
        self.waiting = sum(t.state == TrialState.WAITING for t in trials)
        self.active = sum(t.state in _ACTIVE for t in trials)
        self.configurations = sum(rung_of(t) == 0 for t in trials)
        self.epochs = sum(epochs_counted(t, rungs) for t in trials)
        reached = [rungs.epochs[min(rung_of(t), len(rungs) - 1)] for t in trials
                   if t.state in _ACTIVE or finite_value(t) is not None]
        self.reached = max(reached, default=0)
        self._by_rung: dict[int, list[tuple[float, int, optuna.trial.FrozenTrial]]] = {}
        self._children: dict[tuple[int, int], list[optuna.trial.FrozenTrial]] = {}
        self._screens = [float(t.user_attrs[TRAIN_SECONDS_ATTR]) for t in trials
                         if rung_of(t) == 0 and isinstance(t.user_attrs.get(TRAIN_SECONDS_ATTR), (int, float))]
        self._rates: dict[int, list[float]] = {}
        for t in trials:
            if (rate := seconds_per_epoch(t)) > 0:
                self._rates.setdefault(rung_of(t), []).append(rate)
            value = finite_value(t)
            if value is not None:
                self._by_rung.setdefault(rung_of(t), []).append((value, -t.number, t))
            if rung_of(t) > 0:
                self._children.setdefault((config_of(t), rung_of(t)), []).append(t)

    def screening_seconds(self) -> float:
        """The median training time of the screenings so far (0 before the first)."""
        return statistics.median(self._screens) if self._screens else 0.0

    def reserve_rate(self) -> float:
        """Seconds per epoch to reserve with: the median of the highest rung with a timed segment (0 before any)."""
        return statistics.median(self._rates[max(self._rates)]) if self._rates else 0.0

    def ranked(self, rung: int) -> list[optuna.trial.FrozenTrial]:
        """The COMPLETE trials of ``rung``, best first (earlier trial first among equals)."""
        return [t for _, _, t in sorted(self._by_rung.get(rung, []), key=lambda item: (item[0], item[1]),
                                        reverse=True)]

    def promoted(self, trial: optuna.trial.FrozenTrial) -> bool:
        """Whether ``trial``'s configuration already went on from its rung (a promotion
        the run failed, e.g. its worker died, is owed another try, :data:`PROMOTION_RETRIES` times)."""
        children = self._children.get((config_of(trial), rung_of(trial) + 1), [])
        retried = [c for c in children if c.state == TrialState.FAIL and is_retried(c.user_attrs.get(FAIL_KIND_ATTR))]
        return len(children) > len(retried) or len(retried) > PROMOTION_RETRIES


def expected_trials(*, rungs: Rungs, reduction_factor: int, epochs: int) -> int:
    """About how many configurations successive halving screens with ``epochs`` epochs
    (each rung costs about as much as the first when the rungs grow by the factor)."""
    per_config = sum((rungs.epochs[k] - (rungs.epochs[k - 1] if k else 0)) / reduction_factor**k
                     for k in range(len(rungs)))
    return max(1, math.floor(epochs / per_config))
