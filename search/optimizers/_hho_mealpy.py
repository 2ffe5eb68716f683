"""mealpy's OriginalHHO, instrumented: which iteration, phase and hawk each proposal
comes from, and its logging routed through this project's loggers."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from mealpy.swarm_based.HHO import OriginalHHO

_logger = logging.getLogger(__name__)


class TrackedHHO(OriginalHHO):
    """OriginalHHO that tells which iteration, phase and hawk each proposal comes from,
    and logs through this module's logger (mealpy's per-epoch lines at DEBUG)."""

    def __init__(self, *, epoch: int, pop_size: int, context: dict[str, Any]) -> None:
        super().__init__(epoch=epoch, pop_size=pop_size)
        self._context = context

    def check_problem(self, problem: Any, seed: Any) -> None:
        super().check_problem(problem, seed)
        self.logger = _DebugAdapter(_logger, {})

    def get_target(self, solution: np.ndarray, counted: bool = True) -> Any:
        target = super().get_target(solution, counted)
        if self._context["phase"] == "init":
            self._context["hawk"] += 1
        return target

    def evolve(self, epoch: int) -> None:
        self._context.update(iteration=epoch, phase="dive", hawk=None)
        super().evolve(epoch)

    def update_target_for_population(self, pop: list[Any] | None = None) -> list[Any]:
        self._context["phase"] = "rescore"
        for idx, agent in enumerate(pop or []):
            self._context["hawk"] = idx
            agent.target = self.get_target(agent.solution, counted=False)
        self.nfe_counter += len(pop or [])
        return pop


class _DebugAdapter(logging.LoggerAdapter):
    """mealpy logs every epoch at INFO; here those lines are DEBUG."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(min(level, logging.DEBUG) if level <= logging.INFO else level, msg, *args, **kwargs)

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.log(logging.INFO, msg, *args, **kwargs)
