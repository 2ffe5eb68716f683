"""Leading a study whose optimizer proposes through ask and tell (HHO).

One process leads such a study: it queues the optimizer's proposals in the storage as
WAITING trials with fixed parameters, within the budget (under the study's lock, so the
queue never holds more than the budget has room for), and tells the optimizer every
trial that finishes, whoever trained it. Workers anywhere take the queued trials
(:mod:`studies.running.loop`). While it leads, the leader records a heartbeat in the
study, so workers with nothing queued can tell a leader that is thinking from one that
is gone. For an optimizer that proposes in workers (TPE, random) there is nothing to lead.
"""

from __future__ import annotations

import logging
import time

import optuna

from search.optimizers import Optimizer
from search.space import SearchSpace
from studies.store.budget import StudyBudget
from studies.store.trials import FINISHED_STATES

_logger = logging.getLogger(__name__)

# The study attribute the leader's heartbeat is written to (seconds since the epoch).
LEADER_HEARTBEAT_ATTR = "leader_heartbeat"
# Seconds between the leader's heartbeats; after LEADER_GRACE_S without one the leader is gone.
LEADER_HEARTBEAT_S = 10.0
LEADER_GRACE_S = 60.0


class Leader:
    """Queues ``optimizer``'s proposals and tells it the results, one :meth:`step` at a time."""

    def __init__(self, *, budget: StudyBudget, optimizer: Optimizer, space: SearchSpace) -> None:
        self._budget = budget
        self._study = budget.study
        self._optimizer = optimizer
        self._space = space
        self._told = {t.number for t in self._study.get_trials(deepcopy=False, states=FINISHED_STATES)}
        self._last_beat = 0.0

    def step(self) -> int:
        """Tell the optimizer what finished, queue what it proposes now; returns how many it queued."""
        self._beat()
        for trial in self._study.get_trials(deepcopy=False, states=FINISHED_STATES):
            if trial.number not in self._told:
                self._told.add(trial.number)
                self._optimizer.tell(trial=trial)
        with self._budget.held() as room:
            proposals = self._optimizer.ask(study=self._study, space=self._space, n=room)
            for proposal in proposals:
                self._study.enqueue_trial(proposal.params, user_attrs=proposal.attrs)
        return len(proposals)

    def exhausted(self) -> bool:
        """The optimizer has nothing more to propose, ever."""
        return self._optimizer.exhausted()

    def close(self) -> None:
        self._optimizer.close(study=self._study)
        self._study.set_user_attr(LEADER_HEARTBEAT_ATTR, None)

    def _beat(self) -> None:
        now = time.time()
        if now - self._last_beat >= LEADER_HEARTBEAT_S:
            self._study.set_user_attr(LEADER_HEARTBEAT_ATTR, now)
            self._last_beat = now


def leader_alive(study: optuna.Study) -> bool:
    """Whether a process led ``study`` within the last :data:`LEADER_GRACE_S` seconds."""
    beat = study.user_attrs.get(LEADER_HEARTBEAT_ATTR)
    return isinstance(beat, (int, float)) and time.time() - beat < LEADER_GRACE_S
