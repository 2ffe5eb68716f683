"""Harris Hawks Optimization (Heidari et al., 2019) from mealpy, as a study citizen.

Design: mealpy drives; its fitness function runs each proposal as one Optuna trial
through ``study.optimize(objective, n_trials=1)``, with a sampler pinned to the
proposal's parameters. Going through ``study.optimize`` (rather than bare ask/tell)
means the objective code, FAIL/PRUNED handling, intermediate values and callbacks are
exactly those of the TPE and random optimizers, and Optuna's heartbeat covers HHO
trials too. Nothing is enqueued, so no WAITING trial of another worker is popped
by mistake. The pieces:

- :class:`~search.encoding.UnitCubeEncoding` maps the search space to [0, 1]^d
  (ints rounded, log dimensions in log space, categoricals by slices);
- a cache of every configuration already finished in the study answers repeats
  (HHO re-scores unchanged hawks each epoch) without training; hits are counted in the
  study attribute ``hho_cache_hits``. A configuration whose trial failed for a reason of
  its own (diverged, out of memory, no epoch: see :func:`search.objective.is_retried`) is
  in it with the objective's ``worst_value``, so it is not trained again; one whose trial
  was interrupted, or whose worker process died, is still owed a training and is not;
- each proposal that needs training gets an ordinal, in mealpy's order, counted on from
  the number of trials the study held when the run started, recorded on its trial as the
  ``proposal`` user attribute; the objective seeds the training from it
  (:func:`search.objective.training_seed`), so which worker process claims a trial first
  changes neither the values nor, with them, HHO's path;
- the budget is exact: when ``n_trials`` trainings are done, the next proposal that
  needs training ends the run, even mid-epoch;
- a failed trial gives HHO the objective's finite ``worst_value``, a pruned one its
  last reported value;
- when HHO stops finding new configurations (a converged population) or runs out of
  planned epochs, it restarts, warm-started from the best finished trials; a resumed
  study starts that way too;
- populations are evaluated as batches: the initial population and each epoch's
  re-scored population go to the :class:`~search.optimizers.trainer.Trainer` at once,
  so a trainer with worker processes (``--jobs``) trains them in parallel, as mealpy's
  own parallel modes do; the Levy-flight dives of the exploitation phase are evaluated
  one at a time, because mealpy decides between each dive's two points in its loop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from mealpy import FloatVar
from mealpy.utils.problem import Problem

from models.errors import ConfigError
from search.encoding import UnitCubeEncoding
from search.objective import FAIL_KIND_ATTR, PROPOSAL_ATTR, Objective, is_retried
from search.optimizers._hho_mealpy import TrackedHHO
from search.optimizers.base import OpenGate, TrialCallback, TrialGate
from search.optimizers.trainer import LocalTrainer, Proposal, Trainer
from search.space import SearchSpace

_logger = logging.getLogger(__name__)

MIN_POP_SIZE = 5  # mealpy's OriginalHHO refuses fewer hawks
MAX_POP_SIZE = 1000
# Default population: a tenth of the budget, within [MIN_POP_SIZE, DEFAULT_POP_CAP], so
# each population lives for several epochs and its escaping energy |E| sweeps from
# exploration (>= 1) down to exploitation (< 0.5) within the budget.
BUDGET_PER_HAWK = 10
DEFAULT_POP_CAP = 30
# Objective calls per hawk per epoch, measured on mealpy 3.0.2 (about 1.9: Levy dives
# plus the end-of-epoch re-scoring): used to plan how many epochs a budget buys.
CALLS_PER_HAWK_EPOCH = 1.9
# Consecutive cache hits per hawk after which the population is taken as converged.
STAGNANT_HITS_PER_HAWK = 10
CACHE_HITS_ATTR = "hho_cache_hits"
_FINISHED_WITH_VALUE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
_FINISHED = (*_FINISHED_WITH_VALUE, optuna.trial.TrialState.FAIL)


def default_pop_size(budget: int) -> int:
    return max(MIN_POP_SIZE, min(DEFAULT_POP_CAP, budget // BUDGET_PER_HAWK))


class _BudgetSpent(Exception):
    """Every training of this run is done: stop mealpy where it stands."""


class _Stagnated(Exception):
    """HHO keeps proposing finished configurations: restart it."""


class HhoOptimizer:
    """mealpy's ``OriginalHHO`` with an exact budget, a cache and warm restarts.

    By default each proposal trains in this process; :meth:`with_trainer` gives a
    trainer that trains each population's proposals in parallel.
    """

    name = "hho"

    def __init__(self, *, seed: int, pop_size: int, trainer: Trainer | None = None) -> None:
        self._seed = seed
        self._pop_size = pop_size
        self._trainer = trainer

    def with_trainer(self, trainer: Trainer) -> HhoOptimizer:
        """This optimizer, with its proposals trained by ``trainer`` instead of in this process."""
        return HhoOptimizer(seed=self._seed, pop_size=self._pop_size, trainer=trainer)

    def settings(self) -> dict[str, Any]:
        return {
            "algorithm": "mealpy.OriginalHHO",
            "seed": self._seed,
            "pop_size": self._pop_size,
            "encoding": "unit-cube",
            "stagnant_hits_per_hawk": STAGNANT_HITS_PER_HAWK,
        }

    def run(
        self,
        *,
        study: optuna.Study,
        objective: Objective,
        n_trials: int,
        callbacks: Sequence[TrialCallback] = (),
        gate: TrialGate = OpenGate(),  # noqa: B008 - stateless
    ) -> None:
        trainer = self._trainer or LocalTrainer(study=study, objective=objective, gate=gate)
        evaluator = _Evaluator(
            study=study, objective=objective, n_trials=n_trials, trainer=trainer, callbacks=callbacks,
            stagnation_limit=STAGNANT_HITS_PER_HAWK * self._pop_size,
        )
        if n_trials < self._pop_size:
            _logger.warning(
                "HHO: %d trial(s) to run is fewer than the %d hawks of one population; "
                "HHO will not get past its random start", n_trials, self._pop_size,
            )
        try:
            self._restarts(evaluator)
        finally:
            evaluator.save_hits()

    def _restarts(self, evaluator: _Evaluator) -> None:
        restart = 0
        while evaluator.remaining > 0:
            trained_before = evaluator.trained
            evaluator.context.update(restart=restart, iteration=0, phase="init", hawk=0)
            try:
                self._solve_once(evaluator, restart)
            except _BudgetSpent:
                return
            except _Stagnated:
                _logger.info("HHO: population converged; restarting from the best trials")
            if evaluator.trained == trained_before:
                _logger.warning(
                    "HHO: a whole restart found no configuration not already tried; stopping with "
                    "%d trial(s) of the budget unspent (is the search space this small?)",
                    evaluator.remaining,
                )
                return
            restart += 1

    def _solve_once(self, evaluator: _Evaluator, restart: int) -> None:
        space = evaluator.encoding.space
        # HHO's escaping energy is 2*E0*(1 - t/T): zero in the last planned epoch, where every
        # hawk collapses onto the best. One epoch more than the budget buys keeps it out of reach.
        affordable = math.ceil((evaluator.remaining / self._pop_size - 1) / CALLS_PER_HAWK_EPOCH)
        planned = max(1, affordable) + 1
        model = TrackedHHO(epoch=planned, pop_size=self._pop_size, context=evaluator.context,
                           prefetch=evaluator.prefetch)
        problem = Problem(
            bounds=FloatVar(lb=[0.0] * len(space), ub=[1.0] * len(space), name="unit_cube"),
            minmax="max",
            obj_func=evaluator,
            log_to=None,
        )
        rng = np.random.default_rng([self._seed, restart])
        starting = evaluator.starting_points(self._pop_size, rng)
        with np.errstate(invalid="ignore", divide="ignore"):  # mealpy's diversity stats at 0/0
            model.solve(problem, mode="swarm", starting_solutions=starting, seed=int(rng.integers(2**31)))


class _Evaluator:
    """mealpy's fitness function: a proposal becomes one Optuna trial, or a cache hit.

    :meth:`prefetch` trains a whole population's new configurations as one batch first,
    so the calls mealpy then makes one by one find them in the cache.
    """

    def __init__(
        self,
        *,
        study: optuna.Study,
        objective: Objective,
        n_trials: int,
        trainer: Trainer,
        callbacks: Sequence[TrialCallback],
        stagnation_limit: int,
    ) -> None:
        self.encoding = UnitCubeEncoding(objective.space)
        self.context: dict[str, Any] = {}
        self.trained = 0
        self._study = study
        self._worst = objective.worst_value
        self._n_trials = n_trials
        self._trainer = trainer
        self._callbacks = list(callbacks)
        self._stagnation_limit = stagnation_limit
        self._cache = _finished_fitness(study, objective.space, worst=objective.worst_value)
        self._next_proposal = len(study.get_trials(deepcopy=False))
        self._fresh: set[tuple[Any, ...]] = set()  # prefetched, not yet asked for by mealpy
        self._gate_closed = False
        self._hits_before = int(study.user_attrs.get(CACHE_HITS_ATTR, 0))
        self._hits = 0
        self._consecutive_hits = 0

    @property
    def remaining(self) -> int:
        return self._n_trials - self.trained

    def __call__(self, point: np.ndarray) -> float:
        key = _key(self.encoding.decode(point))
        if key not in self._cache:
            self.prefetch([point], hawks=[self.context.get("hawk")])
        if key in self._fresh:
            self._fresh.discard(key)
            self._consecutive_hits = 0
            return self._cache[key]
        if key in self._cache:
            return self._hit(key)
        raise _BudgetSpent

    def prefetch(self, points: Sequence[np.ndarray], *, hawks: Sequence[int | None] | None = None) -> None:
        """Train, as one batch, the configurations of ``points`` not yet finished (within the budget)."""
        hawks = hawks if hawks is not None else range(len(points))
        batch = self._new_configurations(points, hawks)
        if not batch:
            return
        if self._gate_closed or self.remaining <= 0:
            raise _BudgetSpent
        batch = batch[: self.remaining]
        proposals = []
        for key, attrs in batch:  # numbered in mealpy's order, before any worker claims one
            proposals.append(Proposal(params=dict(key), attrs={**attrs, PROPOSAL_ATTR: self._next_proposal}))
            self._next_proposal += 1
        try:
            trials = self._trainer.train(proposals, callbacks=self._callbacks)
        finally:
            self.save_hits()
        for (key, _), trial in zip(batch, trials, strict=True):
            if trial is None:
                self._gate_closed = True
                continue
            self.trained += 1
            self._cache[key] = _fitness(trial, worst=self._worst)
            self._fresh.add(key)
        if self._gate_closed:
            _logger.info("HHO: the study holds its budget of trials (finished or running); stopping")

    def _new_configurations(
        self, points: Sequence[np.ndarray], hawks: Sequence[int | None]
    ) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        """(key, trial attributes) of each configuration in ``points`` not finished yet, first occurrence only."""
        keys = [_key(self.encoding.decode(point)) for point in points]
        if any(key not in self._cache for key in keys):
            self._refresh()  # other workers on the study may have trained some meanwhile
        batch: dict[tuple[Any, ...], dict[str, Any]] = {}
        for key, hawk in zip(keys, hawks, strict=True):
            if key not in self._cache and key not in batch:
                batch[key] = {f"hho_{k}": v for k, v in {**self.context, "hawk": hawk}.items()}
        return list(batch.items())

    def _hit(self, key: tuple[Any, ...]) -> float:
        self._hits += 1
        self._consecutive_hits += 1
        if self._consecutive_hits > self._stagnation_limit:
            self._consecutive_hits = 0
            raise _Stagnated
        return self._cache[key]

    def _refresh(self) -> None:
        fresh = _finished_fitness(self._study, self.encoding.space, worst=self._worst)
        self._cache.update({k: v for k, v in fresh.items() if k not in self._cache})

    def save_hits(self) -> None:
        self._study.set_user_attr(CACHE_HITS_ATTR, self._hits_before + self._hits)

    def starting_points(self, pop_size: int, rng: np.random.Generator) -> np.ndarray | None:
        """The best finished configurations (half the population at most), random points for
        the rest, so a restart keeps what was learned yet explores; None if nothing finished."""
        kept = max(1, pop_size // 2)
        best = sorted(self._cache.items(), key=lambda item: item[1], reverse=True)[:kept]
        if not best:
            return None
        points = [self.encoding.encode(dict(key)) for key, _ in best]
        fill = rng.uniform(size=(pop_size - len(points), self.encoding.n_dims))
        return np.vstack([np.array(points), fill]) if len(fill) else np.array(points)


def _key(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))


def _fitness(trial: optuna.trial.FrozenTrial | None, *, worst: float) -> float:
    if trial is None:
        return worst
    if trial.state == optuna.trial.TrialState.COMPLETE and trial.value is not None:
        return float(trial.value)
    if trial.state == optuna.trial.TrialState.PRUNED and trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return worst


def _finished_fitness(
    study: optuna.Study, space: SearchSpace, *, worst: float
) -> dict[tuple[Any, ...], float]:
    """Fitness of every configuration the study already finished: COMPLETE or PRUNED, or
    FAIL for a reason of its own (``worst``); a value measured beats such a failure."""
    cache: dict[tuple[Any, ...], float] = {}
    for trial in study.get_trials(deepcopy=False, states=_FINISHED):
        if not space.contains(trial.params):
            continue
        key = _key(trial.params)
        if trial.state in _FINISHED_WITH_VALUE:
            cache[key] = _fitness(trial, worst=worst)
        elif not is_retried(trial.user_attrs.get(FAIL_KIND_ATTR)):
            cache.setdefault(key, worst)
    return cache


def create(*, seed: int, budget: int, options: dict[str, Any]) -> HhoOptimizer:
    pop_size = options.get("pop_size")
    unknown = sorted(k for k, v in options.items() if k != "pop_size" and v is not None)
    if unknown:
        raise ConfigError(f"--optimizer hho takes --pop-size only, not {', '.join(unknown)}")
    if pop_size is None:
        pop_size = default_pop_size(budget)
    if isinstance(pop_size, bool) or not isinstance(pop_size, int) or not MIN_POP_SIZE <= pop_size <= MAX_POP_SIZE:
        raise ConfigError(
            f"--pop-size must be a whole number in [{MIN_POP_SIZE}, {MAX_POP_SIZE}] "
            f"(mealpy's HHO needs at least {MIN_POP_SIZE} hawks), but got {pop_size!r}"
        )
    return HhoOptimizer(seed=seed, pop_size=pop_size)
