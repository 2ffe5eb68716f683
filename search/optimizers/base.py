"""The protocol every optimizer implements: it proposes configurations and learns from
their results; it never creates, runs, counts or stops trials.

One loop elsewhere (:mod:`studies.running`) does that, for every optimizer and wherever
the trials train: it keeps the budget, handles failures and runs the callbacks. An
optimizer proposes in one of two ways, the loop's only question to it
(:attr:`Optimizer.proposes_in_workers`):

- through an Optuna sampler that every worker uses for the trials it creates (TPE and
  random: what one worker learns reaches the others through the storage);
- through :meth:`Optimizer.ask`, called by the one process that leads the study, which
  queues the proposals in the storage as WAITING trials with fixed parameters for any
  worker to take, and :meth:`Optimizer.tell`, which hands it each finished trial (HHO:
  its flock lives in one process).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

import optuna

from search.objective import TrialFailed
from search.space import SearchSpace

TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]

# Exceptions that end one trial as FAIL and let the study go on; anything else stops it.
TRIAL_ERRORS: tuple[type[Exception], ...] = (TrialFailed,)


@dataclasses.dataclass(frozen=True)
class Proposal:
    """One configuration to train: its params, and user attributes its trial carries."""

    params: dict[str, Any]
    attrs: dict[str, Any]


class Optimizer(Protocol):
    """Proposes configurations of a study's search space.

    Contract:
        - :attr:`proposes_in_workers` True: workers create trials themselves with
          :meth:`sampler`, and :meth:`ask` returns no proposal. False: every trial comes
          from :meth:`ask`; workers only take queued trials, and :meth:`sampler` (given to
          them anyway) refuses to sample;
        - :meth:`ask` returns at most ``n`` proposals (``n`` is what the budget has room
          for now), fewer or none while it waits for results; it never blocks for long,
          and it never proposes what it has proposed before unless a run's failure left that
          configuration untrained (see :func:`search.failures.is_retried`);
        - :meth:`tell` receives every trial of the study that finishes while it leads,
          once, in the order they finished; trials that finished before its first ask it
          reads from the study itself;
        - :meth:`close` ends what :meth:`ask` started (threads) and writes what it keeps
          in the study; the optimizer is not asked again after it;
        - :meth:`exhausted` says it has nothing more to propose, ever (a search space
          smaller than the budget);
        - the same seed, space and results give the same proposals, in the same order;
        - :meth:`settings` is a JSON-serializable dict of everything that shapes its
          choices (recorded in the study so a run can be understood and repeated).
    """

    name: str
    proposes_in_workers: bool

    def settings(self) -> dict[str, Any]: ...

    def sampler(self) -> optuna.samplers.BaseSampler: ...

    def ask(self, *, study: optuna.Study, space: SearchSpace, n: int) -> list[Proposal]: ...

    def tell(self, *, trial: optuna.trial.FrozenTrial) -> None: ...

    def exhausted(self) -> bool: ...

    def close(self, *, study: optuna.Study) -> None: ...


class OptimizerFactory(Protocol):
    """Builds an optimizer for a study of ``budget`` finished trials.

    ``options`` are the optimizer-specific settings given by the user (``pop_size`` for
    HHO); a factory raises :class:`models.errors.ConfigError` for one it does not take
    or a value it cannot use.
    """

    def __call__(self, *, seed: int, budget: int, options: dict[str, Any]) -> Optimizer: ...
