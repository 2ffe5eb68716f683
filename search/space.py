"""The search space, declared once.

A :class:`SearchSpace` is an ordered tuple of :class:`Dimension`. Everything else is
derived from it: Optuna distributions (:meth:`SearchSpace.distributions`), the
suggestions an objective makes (:meth:`SearchSpace.suggest`), the unit-cube encoding
HHO searches in (:mod:`search.encoding`) and what a study records
(:meth:`SearchSpace.to_dict`). :meth:`SearchSpace.from_dict` checks every rule and is
the only way a space enters from outside.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from models.errors import ConfigError
from models.lstm import MODEL_PARAMS

if TYPE_CHECKING:
    import optuna

Kind = Literal["int", "float", "categorical"]
KINDS: tuple[Kind, ...] = ("int", "float", "categorical")
_RANGE_KEYS = frozenset({"type", "low", "high", "log"})
_CHOICE_KEYS = frozenset({"type", "choices"})


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One hyperparameter: a range (``int``/``float``, optionally log scale) or ``choices``."""

    name: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()

    def distribution(self) -> BaseDistribution:
        """The Optuna distribution this dimension stands for."""
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        if self.kind == "float":
            return FloatDistribution(self.low, self.high, log=self.log)
        return CategoricalDistribution(self.choices)

    def suggest(self, trial: optuna.Trial) -> Any:
        """Ask ``trial`` for a value of this dimension."""
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        return trial.suggest_categorical(self.name, self.choices)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a legal value of this dimension, type included."""
        if self.kind == "categorical":
            return any(type(value) is type(c) and value == c for c in self.choices)
        if self.kind == "int":
            legal_type = type(value) is int  # not bool, not a float that happens to be whole
        else:
            legal_type = isinstance(value, float)  # NumPy's float64 too, as Optuna may return it
        return legal_type and self.low <= value <= self.high

    def to_dict(self) -> dict[str, Any]:
        """The dimension as it is written in a space file."""
        if self.kind == "categorical":
            return {"type": "categorical", "choices": list(self.choices)}
        return {"type": self.kind, "low": self.low, "high": self.high, "log": self.log}


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """An ordered, non-empty set of uniquely named dimensions."""

    dimensions: tuple[Dimension, ...]

    def __iter__(self) -> Iterator[Dimension]:
        return iter(self.dimensions)

    def __len__(self) -> int:
        return len(self.dimensions)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)

    def distributions(self) -> dict[str, BaseDistribution]:
        return {d.name: d.distribution() for d in self.dimensions}

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Suggest every dimension on ``trial``, in declaration order."""
        return {d.name: d.suggest(trial) for d in self.dimensions}

    def contains(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` names exactly these dimensions with legal values."""
        return set(params) == set(self.names) and all(d.contains(params[d.name]) for d in self)

    def to_dict(self) -> dict[str, Any]:
        return {"dimensions": {d.name: d.to_dict() for d in self.dimensions}}

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], *, base: SearchSpace | None = None) -> SearchSpace:
        """Build a checked space from ``{"dimensions": {name: {...}}}``.

        With ``base``, the named dimensions replace or extend those of ``base``.

        Raises:
            ConfigError: any rule broken; the message names the dimension and value.
        """
        if not isinstance(spec, Mapping):
            raise ConfigError(f"a search space must be a table of dimensions, but got {type(spec).__name__}")
        dims_spec = spec.get("dimensions")
        if not isinstance(dims_spec, Mapping) or not dims_spec:
            raise ConfigError("a search space needs a non-empty [dimensions] table, e.g. [dimensions.units]")
        merged = {d.name: d for d in base} if base is not None else {}
        for name, dim_spec in dims_spec.items():
            merged[str(name)] = parse_dimension(str(name), dim_spec)
        return cls(tuple(merged.values()))


def parse_dimension(name: str, spec: Any) -> Dimension:
    """Check one dimension's spec against the space rules and the model's limits."""
    rule = MODEL_PARAMS.get(name)
    if rule is None:
        raise ConfigError(
            f"the model has no hyperparameter {name!r}; a space may name {', '.join(MODEL_PARAMS)}"
        )
    if not isinstance(spec, Mapping):
        raise ConfigError(f"dimension {name!r} must be a table with a 'type', but got {spec!r}")
    kind = spec.get("type")
    if kind not in KINDS:
        raise ConfigError(f"dimension {name!r} has type {kind!r}; the accepted types are {', '.join(KINDS)}")
    allowed = _CHOICE_KEYS if kind == "categorical" else _RANGE_KEYS
    extra = sorted(set(spec) - allowed)
    if extra:
        raise ConfigError(
            f"dimension {name!r} ({kind}) has unknown key(s) {', '.join(extra)}; "
            f"accepted keys are {', '.join(sorted(allowed))}"
        )
    if kind == "categorical":
        return _parse_choices(name, spec.get("choices"))
    return _parse_range(name, kind, spec)


def _parse_range(name: str, kind: Kind, spec: Mapping[str, Any]) -> Dimension:
    rule = MODEL_PARAMS[name]
    if kind == "float" and rule.value_type is int:
        raise ConfigError(f"dimension {name!r} takes whole numbers: use type 'int', not 'float'")
    if kind == "int" and rule.value_type is float:
        raise ConfigError(f"dimension {name!r} takes real numbers: use type 'float', not 'int'")
    bounds = {}
    for key in ("low", "high"):
        if key not in spec:
            raise ConfigError(f"dimension {name!r} needs '{key}'")
        bounds[key] = _number(name, key, spec[key], integer=kind == "int")
    low, high = bounds["low"], bounds["high"]
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"'log' of dimension {name!r} must be true or false, but got {log!r}")
    if not low < high:
        raise ConfigError(f"`low < high` must hold for {name!r}, but got low={low}, high={high}")
    if log and low <= 0:
        raise ConfigError(f"a log-scale dimension needs low > 0, but {name!r} has low={low}")
    if low < rule.minimum or high > rule.maximum:
        raise ConfigError(
            f"the model accepts {name!r} in [{rule.minimum:g}, {rule.maximum:g}], "
            f"but the space asks for [{low:g}, {high:g}]"
        )
    return Dimension(name, kind, low=low, high=high, log=log)


def _number(name: str, key: str, value: Any, *, integer: bool) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"'{key}' of dimension {name!r} must be a number, but got {value!r}")
    if integer and not isinstance(value, int):
        raise ConfigError(f"'{key}' of int dimension {name!r} must be a whole number, but got {value!r}")
    if integer:
        return int(value)
    try:
        as_float = float(value)
    except OverflowError:
        as_float = math.inf
    if not math.isfinite(as_float):
        raise ConfigError(f"'{key}' of dimension {name!r} must be finite, but got {value!r}")
    return as_float


def _parse_choices(name: str, choices: Any) -> Dimension:
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence) or not choices:
        raise ConfigError(f"categorical dimension {name!r} needs a non-empty list 'choices', but got {choices!r}")
    rule = MODEL_PARAMS[name]
    for choice in choices:
        try:
            rule.check(name, choice)
        except ValueError as exc:
            raise ConfigError(f"choice {choice!r} of dimension {name!r} is not accepted: {exc}") from None
    normalized = tuple(rule.value_type(c) for c in choices)
    if len(set(normalized)) != len(normalized):
        raise ConfigError(f"categorical dimension {name!r} lists a choice twice: {list(choices)}")
    return Dimension(name, "categorical", choices=normalized)


DEFAULT_SPACE = SearchSpace(
    (
        Dimension("num_layers", "int", low=1, high=3),
        Dimension("units", "int", low=16, high=256),
        Dimension("learning_rate", "float", low=1e-4, high=1e-2, log=True),
        Dimension("decay_steps", "int", low=50, high=5000, log=True),
    )
)
