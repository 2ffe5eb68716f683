"""mealpy's OriginalHHO, instrumented: which iteration, phase and hawk each proposal
comes from, populations handed to a prefetch hook as one batch before mealpy scores
them one by one, and its logging routed through this project's loggers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from mealpy.swarm_based.HHO import OriginalHHO

_logger = logging.getLogger(__name__)


Prefetch = Callable[[Sequence[np.ndarray]], None]


class TrackedHHO(OriginalHHO):
    """OriginalHHO that tells which iteration, phase and hawk each proposal comes from,
    gives ``prefetch`` every whole population (initial, and re-scored at each epoch's end)
    before scoring it, and logs through this module's logger (mealpy's per-epoch lines at
    DEBUG). The random draws are mealpy's own, in its order: the search is unchanged."""

    def __init__(self, *, epoch: int, pop_size: int, context: dict[str, Any], prefetch: Prefetch | None = None) -> None:
        super().__init__(epoch=epoch, pop_size=pop_size)
        self._context = context
        self._prefetch = prefetch or (lambda points: None)

    def before_initialization(self, starting_solutions: Any = None) -> None:
        if starting_solutions is not None:
            self._prefetch(list(starting_solutions))
        super().before_initialization(starting_solutions)

    def generate_population(self, pop_size: int | None = None) -> list[Any]:
        agents = [self.generate_empty_agent() for _ in range(pop_size or self.pop_size)]
        self._prefetch([agent.solution for agent in agents])
        for agent in agents:
            agent.target = self.get_target(agent.solution)
        return agents

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
        agents = pop or []
        self._context["phase"] = "rescore"
        self._prefetch([agent.solution for agent in agents])
        for idx, agent in enumerate(agents):
            self._context["hawk"] = idx
            agent.target = self.get_target(agent.solution, counted=False)
        self.nfe_counter += len(agents)
        return agents


class _DebugAdapter(logging.LoggerAdapter):
    """mealpy logs every epoch at INFO; here those lines are DEBUG."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(min(level, logging.DEBUG) if level <= logging.INFO else level, msg, *args, **kwargs)

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.log(logging.INFO, msg, *args, **kwargs)
