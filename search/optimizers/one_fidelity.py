"""A sampler that learns from the screening rung only.

With successive halving, a configuration's later segments are trials too (see
:mod:`search.schedulers`): their values are accuracies after more epochs, a different
measurement from the first rung's. :class:`OneFidelitySampler` hands the sampler it
wraps a view of the study without them, so TPE's model, like HHO's fitness, compares
every configuration at the same length.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from search.schedulers import screening_trials


class _ScreeningView:
    """``study`` as the sampler sees it: its rung-0 trials only; everything else is the study's."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        return screening_trials(self._study._get_trials(deepcopy=deepcopy, states=states,  # noqa: SLF001
                                                        use_cache=use_cache))

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return screening_trials(self._study.get_trials(deepcopy=deepcopy, states=states))

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()


class OneFidelitySampler(optuna.samplers.BaseSampler):
    """``sampler``, shown only the study's screening-rung trials."""

    def __init__(self, sampler: optuna.samplers.BaseSampler) -> None:
        self.inner = sampler

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(_view(study), trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.inner.sample_relative(_view(study), trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.inner.sample_independent(_view(study), trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(_view(study), trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.inner.after_trial(_view(study), trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


def _view(study: optuna.Study) -> optuna.Study:
    return _ScreeningView(study)  # type: ignore[return-value]  # a duck-typed Study
