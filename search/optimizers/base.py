"""The protocol every optimizer implements, and what they share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import optuna

from search.objective import Objective, TrialFailed

TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]

# Exceptions that end one trial as FAIL and let the study go on; anything else stops it.
TRIAL_ERRORS: tuple[type[Exception], ...] = (TrialFailed,)


class TrialGate(Protocol):
    """Admits trials one at a time, so workers sharing a study stop at its budget exactly.

    Contract: an optimizer calls :meth:`claim` before each trial and stops when it returns
    False; after a successful claim it calls :meth:`release` once ``study.optimize`` has
    returned (the objective may release it earlier, once its trial is stored). ``release``
    without a claim held does nothing.
    """

    def claim(self) -> bool: ...

    def release(self) -> None: ...


class OpenGate:
    """A gate that admits every trial: a lone worker bounded by ``n_trials`` alone."""

    def claim(self) -> bool:
        return True

    def release(self) -> None:
        return None


class Optimizer(Protocol):
    """Drives an Optuna study: proposes parameters, has them evaluated, learns from the values.

    Contract:
        - :meth:`run` finishes exactly ``n_trials`` more trials (COMPLETE, PRUNED or FAIL)
          in ``study``, fewer only if ``gate`` refuses one, a callback raises, the study is
          stopped, or the optimizer says in a log line why it cannot go on;
        - it runs one trial per ``study.optimize(n_trials=1)`` call, each claimed from
          ``gate`` first (see :class:`TrialGate`);
        - every evaluation is a trial of ``study`` created by ``study.optimize`` with
          ``objective``, ``catch=TRIAL_ERRORS`` and ``callbacks``, so it is stored, visible
          while it runs, and the callbacks see every finished trial;
        - the same seed, space and objective give the same sequence of parameters;
        - :meth:`settings` is a JSON-serializable dict of everything that shapes its
          choices (recorded in the study so a run can be understood and repeated).
    """

    name: str

    def settings(self) -> dict[str, Any]: ...

    def run(
        self,
        *,
        study: optuna.Study,
        objective: Objective,
        n_trials: int,
        callbacks: Sequence[TrialCallback] = (),
        gate: TrialGate = OpenGate(),  # noqa: B008 - stateless
    ) -> None: ...


class OptimizerFactory(Protocol):
    """Builds an optimizer for a study of ``budget`` finished trials.

    ``options`` are the optimizer-specific settings given by the user (``pop_size`` for
    HHO); a factory raises :class:`models.errors.ConfigError` for one it does not take
    or a value it cannot use.
    """

    def __call__(self, *, seed: int, budget: int, options: dict[str, Any]) -> Optimizer: ...
