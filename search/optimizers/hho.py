"""Harris Hawks Optimization (Heidari et al., 2019) from mealpy, driven by ask and tell.

Design: mealpy's ``OriginalHHO`` runs unchanged in a thread of the process that leads the
study. Its fitness function does not train anything: a configuration it needs is put on
a list of proposals and the thread waits; :meth:`HhoOptimizer.ask`, called by the study's
one trial loop, hands those proposals out (the loop queues them in the storage as WAITING
trials for any worker, on this host or another, to train), and :meth:`HhoOptimizer.tell`
gives each finished trial back, which wakes the thread once everything it waits for has
a value. A thread (rather than rewriting mealpy's ``evolve`` as a state machine) keeps
mealpy computing its moves exactly as it does alone, random draws included. The pieces:

- :class:`~search.encoding.UnitCubeEncoding` maps the search space to [0, 1]^d
  (ints rounded, log dimensions in log space, categoricals by slices); the round trip of
  a stored configuration is exact;
- a cache of every configuration the study finished answers repeats (HHO re-scores
  unchanged hawks each epoch) without a new trial; hits are counted in the study
  attribute ``hho_cache_hits``. A configuration whose trial failed for a reason of its own
  (diverged, out of memory, no epoch: see :func:`search.failures.is_retried`) is in it
  with :data:`~search.objective.WORST_VALUE`, so it is not trained again; one whose trial
  was interrupted, or whose worker died, is proposed again (once: :data:`MAX_RETRIES`);
- each proposal gets an ordinal in mealpy's order, counted on from the number of trials
  the study held when this optimizer first asked, recorded as the ``proposal`` user
  attribute; the objective seeds the training from it
  (:func:`search.objective.training_seed`), so which worker takes which trial changes
  neither the values nor, with them, HHO's path;
- whole populations (the initial one and each epoch's re-scored one) are proposed at once,
  so several workers train them in parallel, as mealpy's own parallel modes do; the
  Levy-flight dives are proposed one at a time, because mealpy compares each dive's two
  points before it moves on;
- a failed trial gives HHO the worst value, a pruned one its last reported value;
- HHO's fitness is always the screening rung's value (the first rung of the study's
  :mod:`search.schedulers`): only rung-0 trials are told, cached or adopted. Promoting a
  configuration to longer training is the scheduler's separate stage, so HHO never
  compares one hawk's 1-epoch accuracy with another's 9-epoch accuracy;
- trials queued or running when it first asks (a leader that died left them) are adopted:
  a configuration among them is waited for, not proposed again;
- when HHO stops finding new configurations (a converged population) or runs out of
  planned epochs, it restarts, warm-started from the best finished trials; a resumed
  study starts that way too. A whole restart that finds nothing new means the search
  space holds no more: :meth:`HhoOptimizer.exhausted`.

The budget is not HHO's business: the loop asks for no more than it has room for, and
closes the optimizer when the study holds its budget, even mid-epoch.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from mealpy import FloatVar
from mealpy.utils.problem import Problem

from models.errors import ConfigError
from search.encoding import UnitCubeEncoding
from search.failures import FAIL_KIND_ATTR, is_retried
from search.objective import PROPOSAL_ATTR, WORST_VALUE
from search.optimizers._hho_mealpy import TrackedHHO
from search.optimizers.base import Proposal
from search.optimizers.queued import QueuedOnlySampler
from search.schedulers import screening_trials
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
# Times a configuration whose run failed it (interrupted, worker died) is proposed again;
# after that it counts as failed (the worst value), so a failure that repeats cannot use
# up the budget.
MAX_RETRIES = 1
# Seconds close() waits for the flock's thread to stop.
STOP_TIMEOUT_S = 10.0
_FINISHED_WITH_VALUE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
_FINISHED = (*_FINISHED_WITH_VALUE, optuna.trial.TrialState.FAIL)
_UNFINISHED = (optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING)

Key = tuple[tuple[str, Any], ...]
# Where Optuna keeps the parameters a trial was queued with (``Study.enqueue_trial``).
_FIXED_PARAMS = "fixed_params"


def default_pop_size(budget: int) -> int:
    return max(MIN_POP_SIZE, min(DEFAULT_POP_CAP, budget // BUDGET_PER_HAWK))


class _Stopped(Exception):
    """The loop closed the optimizer: stop mealpy where it stands."""


class _Stagnated(Exception):
    """HHO keeps proposing finished configurations: restart it."""


class HhoOptimizer:
    """mealpy's ``OriginalHHO`` behind ask and tell, with a cache and warm restarts."""

    name = "hho"
    proposes_in_workers = False

    def __init__(self, *, seed: int, pop_size: int) -> None:
        self._seed = seed
        self._pop_size = pop_size
        self._flock: _Flock | None = None

    def settings(self) -> dict[str, Any]:
        return {
            "algorithm": "mealpy.OriginalHHO",
            "seed": self._seed,
            "pop_size": self._pop_size,
            "encoding": "unit-cube",
            "stagnant_hits_per_hawk": STAGNANT_HITS_PER_HAWK,
        }

    def sampler(self) -> optuna.samplers.BaseSampler:
        return QueuedOnlySampler()

    def ask(self, *, study: optuna.Study, space: SearchSpace, n: int) -> list[Proposal]:
        if self._flock is None:
            self._flock = _Flock(study=study, space=space, seed=self._seed, pop_size=self._pop_size, room=n)
        proposals = self._flock.hand_out(n)
        self._flock.save_hits(study)
        return proposals

    def tell(self, *, trial: optuna.trial.FrozenTrial) -> None:
        if self._flock is not None:
            self._flock.tell(trial)

    def exhausted(self) -> bool:
        return self._flock is not None and self._flock.exhausted

    def close(self, *, study: optuna.Study) -> None:
        if self._flock is not None:
            self._flock.stop()
            self._flock.save_hits(study)


class _Flock:
    """The HHO flock: mealpy in a thread whose fitness calls wait for told results.

    Everything below ``_condition`` is shared by the thread and the caller of
    :meth:`hand_out` and :meth:`tell`; the storage is only touched by the caller.
    """

    def __init__(self, *, study: optuna.Study, space: SearchSpace, seed: int, pop_size: int, room: int) -> None:
        self.encoding = UnitCubeEncoding(space)
        self.context: dict[str, Any] = {}
        self.exhausted = False
        self._space = space
        self._seed = seed
        self._pop_size = pop_size
        self._room = room
        self._condition = threading.Condition()
        # One snapshot for both: a trial finishing between two reads would be in neither,
        # and its configuration proposed again.
        screened = screening_trials(study.get_trials(deepcopy=False))
        self._cache = _finished_fitness(screened, space)
        self._pending: dict[Key, dict[str, Any]] = {}  # proposed by mealpy, not handed out yet
        self._out: set[Key] = {_key(_configuration(t)) for t in screened
                               if t.state in _UNFINISHED and space.contains(_configuration(t))}  # adopted
        self._ordinals: dict[Key, int] = {}
        self._retries: dict[Key, int] = {}
        self._next_ordinal = len(screened)
        self._fresh: set[Key] = set()  # told, not yet asked for by mealpy
        self._awaited: tuple[Key, ...] = ()  # what the thread waits for, while it waits
        self._stopped = False
        self._error: BaseException | None = None
        self._new_in_restart = 0
        self._hits_before = int(study.user_attrs.get(CACHE_HITS_ATTR, 0))
        self._hits = 0
        self._saved_hits = -1
        self._consecutive_hits = 0
        self._stagnation_limit = STAGNANT_HITS_PER_HAWK * pop_size
        if room < pop_size:
            _logger.warning("HHO: room for %d trial(s) is less than the %d hawks of one population; "
                            "HHO will not get past its random start", room, pop_size)
        self._thread = threading.Thread(target=self._main, name="hho-flock", daemon=True)
        self._thread.start()

    # The caller's side.

    def hand_out(self, n: int) -> list[Proposal]:
        """Up to ``n`` of the proposals mealpy waits for, once it has made them."""
        with self._condition:
            self._room = n
            self._condition.wait_for(lambda: self._blocked() or self.exhausted or self._error is not None)
            if self._error is not None:
                raise self._error
            keys = list(self._pending)[:max(0, n)]
            proposals = []
            for key in keys:
                attrs = self._pending.pop(key)
                ordinal = self._ordinals.setdefault(key, self._next_ordinal)
                if ordinal == self._next_ordinal:
                    self._next_ordinal += 1
                self._out.add(key)
                proposals.append(Proposal(params=dict(key), attrs={**attrs, PROPOSAL_ATTR: ordinal}))
            return proposals

    def tell(self, trial: optuna.trial.FrozenTrial) -> None:
        params = _configuration(trial)
        if trial.state not in _FINISHED or not self._space.contains(params) or not screening_trials([trial]):
            return  # a promoted configuration's later segment is another fidelity: not a fitness
        key = _key(params)
        with self._condition:
            retried = self._retries.get(key, 0)
            if (trial.state == optuna.trial.TrialState.FAIL and is_retried(trial.user_attrs.get(FAIL_KIND_ATTR))
                    and retried < MAX_RETRIES):
                if key in self._out and key not in self._cache:  # the run failed it: propose it again
                    self._retries[key] = retried + 1
                    self._out.discard(key)
                    self._pending = {key: _hho_attrs(trial.user_attrs), **self._pending}
            else:
                if trial.state in _FINISHED_WITH_VALUE or key not in self._cache:
                    self._cache[key] = _fitness(trial)
                if key in self._out:
                    self._out.discard(key)
                    self._fresh.add(key)
            self._condition.notify_all()

    def _blocked(self) -> bool:
        """The thread waits for values it has not been told yet (caller holds the condition)."""
        return any(key not in self._cache for key in self._awaited)

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        self._thread.join(STOP_TIMEOUT_S)

    def save_hits(self, study: optuna.Study) -> None:
        if self._hits != self._saved_hits:
            study.set_user_attr(CACHE_HITS_ATTR, self._hits_before + self._hits)
            self._saved_hits = self._hits

    # The thread's side.

    def _main(self) -> None:
        try:
            self._restarts()
        except _Stopped:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised in its thread
            with self._condition:
                self._error = exc
                self._condition.notify_all()

    def _restarts(self) -> None:
        restart = 0
        while True:
            with self._condition:
                self._new_in_restart = 0
            self.context.update(restart=restart, iteration=0, phase="init", hawk=0)
            try:
                self._solve_once(restart)
            except _Stagnated:
                _logger.info("HHO: population converged; restarting from the best trials")
            with self._condition:
                if self._new_in_restart == 0:
                    _logger.warning("HHO: a whole restart found no configuration not already tried; "
                                    "nothing more to propose (is the search space this small?)")
                    self.exhausted = True
                    self._condition.notify_all()
                    return
            restart += 1

    def _solve_once(self, restart: int) -> None:
        # HHO's escaping energy is 2*E0*(1 - t/T): zero in the last planned epoch, where every
        # hawk collapses onto the best. One epoch more than the budget buys keeps it out of reach.
        affordable = math.ceil((self._room / self._pop_size - 1) / CALLS_PER_HAWK_EPOCH)
        planned = max(1, affordable) + 1
        model = TrackedHHO(epoch=planned, pop_size=self._pop_size, context=self.context, prefetch=self._prefetch)
        problem = Problem(
            bounds=FloatVar(lb=[0.0] * len(self._space), ub=[1.0] * len(self._space), name="unit_cube"),
            minmax="max",
            obj_func=self._fitness_of,
            log_to=None,
        )
        rng = np.random.default_rng([self._seed, restart])
        starting = self._starting_points(rng)
        with np.errstate(invalid="ignore", divide="ignore"):  # mealpy's diversity stats at 0/0
            model.solve(problem, mode="swarm", starting_solutions=starting, seed=int(rng.integers(2**31)))

    def _fitness_of(self, point: np.ndarray) -> float:
        """mealpy's fitness function: the cached value, after waiting for it if need be."""
        key = _key(self.encoding.decode(point))
        self._wait_for({key: self._attrs(self.context.get("hawk"))})
        with self._condition:
            if key in self._fresh:
                self._fresh.discard(key)
                self._consecutive_hits = 0
                return self._cache[key]
            self._hits += 1
            self._consecutive_hits += 1
            if self._consecutive_hits > self._stagnation_limit:
                self._consecutive_hits = 0
                raise _Stagnated
            return self._cache[key]

    def _prefetch(self, points: Sequence[np.ndarray]) -> None:
        """A whole population: propose every new configuration of it at once, then wait."""
        batch: dict[Key, dict[str, Any]] = {}
        for hawk, point in enumerate(points):
            batch.setdefault(_key(self.encoding.decode(point)), self._attrs(hawk))
        self._wait_for(batch)

    def _wait_for(self, batch: dict[Key, dict[str, Any]]) -> None:
        """Propose the configurations of ``batch`` that are new, and wait until all have values."""
        with self._condition:
            if all(key in self._cache for key in batch):
                return
            for key, attrs in batch.items():
                if key not in self._cache and key not in self._out and key not in self._pending:
                    self._pending[key] = attrs
                    self._new_in_restart += 1
            self._awaited = tuple(batch)
            self._condition.notify_all()
            self._condition.wait_for(lambda: self._stopped or all(k in self._cache for k in batch))
            self._awaited = ()
            if self._stopped:
                raise _Stopped

    def _attrs(self, hawk: int | None) -> dict[str, Any]:
        return {f"hho_{k}": v for k, v in {**self.context, "hawk": hawk}.items()}

    def _starting_points(self, rng: np.random.Generator) -> np.ndarray | None:
        """The best finished configurations (half the population at most), random points for
        the rest, so a restart keeps what was learned yet explores; None if nothing finished."""
        kept = max(1, self._pop_size // 2)
        with self._condition:
            best = sorted(self._cache.items(), key=lambda item: item[1], reverse=True)[:kept]
        if not best:
            return None
        points = [self.encoding.encode(dict(key)) for key, _ in best]
        fill = rng.uniform(size=(self._pop_size - len(points), self.encoding.n_dims))
        return np.vstack([np.array(points), fill]) if len(fill) else np.array(points)


def _hho_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k.startswith("hho_")}


def _configuration(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The configuration of ``trial``: the fixed params it was queued with, else its params.

    The queued ones first: a worker killed while its objective was asking for the params
    leaves only some of them stored, and that part is no configuration HHO proposed.
    """
    fixed = trial.system_attrs.get(_FIXED_PARAMS)
    return dict(fixed) if fixed else dict(trial.params)


def _key(params: dict[str, Any]) -> Key:
    return tuple(sorted(params.items()))


def _fitness(trial: optuna.trial.FrozenTrial) -> float:
    if trial.state == optuna.trial.TrialState.COMPLETE and trial.value is not None:
        return float(trial.value)
    if trial.state == optuna.trial.TrialState.PRUNED and trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return WORST_VALUE


def _finished_fitness(trials: Sequence[optuna.trial.FrozenTrial], space: SearchSpace) -> dict[Key, float]:
    """Fitness of every configuration the study already finished: COMPLETE or PRUNED, or
    FAIL for a reason of its own (the worst value); a value measured beats such a failure."""
    cache: dict[Key, float] = {}
    for trial in (t for t in trials if t.state in _FINISHED):
        params = _configuration(trial)
        if not space.contains(params):
            continue
        key = _key(params)
        if trial.state in _FINISHED_WITH_VALUE:
            cache[key] = _fitness(trial)
        elif not is_retried(trial.user_attrs.get(FAIL_KIND_ATTR)):
            cache.setdefault(key, WORST_VALUE)
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
