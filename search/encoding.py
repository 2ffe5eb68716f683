"""The unit-cube encoding of a search space, for optimizers that search in R^d (HHO).

Every dimension maps to [0, 1]: ranges linearly (in log space when ``log``), integers
over ``[low - 0.5, high + 0.5]`` then rounded, so every integer gets an equal share;
categoricals by equal slices, one per choice. Decoded values are plain Python
``int``/``float``/choice objects, never numpy scalars (Optuna's storage needs JSON).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from search.space import Dimension, SearchSpace

_HALF_STEP = 0.5


class UnitCubeEncoding:
    """Map between parameter dicts of ``space`` and points of ``[0, 1]^len(space)``."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    @property
    def n_dims(self) -> int:
        return len(self.space)

    def decode(self, point: np.ndarray) -> dict[str, Any]:
        """The parameters at ``point`` (clipped into the cube first)."""
        clipped = np.clip(np.asarray(point, dtype=float), 0.0, 1.0)
        return {d.name: _decode(d, float(u)) for d, u in zip(self.space, clipped)}

    def encode(self, params: dict[str, Any]) -> np.ndarray:
        """A point that decodes to ``params`` (the centre of its cell for ints and choices)."""
        return np.array([_encode(d, params[d.name]) for d in self.space], dtype=float)


def _interval(d: Dimension) -> tuple[float, float]:
    low, high = float(d.low), float(d.high)
    if d.kind == "int":
        low, high = low - _HALF_STEP, high + _HALF_STEP
        if d.log:
            low = max(low, float(d.low) * _HALF_STEP)
    if d.log:
        return math.log(low), math.log(high)
    return low, high


def _decode(d: Dimension, u: float) -> Any:
    if d.kind == "categorical":
        return d.choices[min(int(u * len(d.choices)), len(d.choices) - 1)]
    if d.kind == "float" and u in (0.0, 1.0):
        return float(d.low if u == 0.0 else d.high)  # exact bounds, not exp(log(bound))
    low, high = _interval(d)
    x = low + u * (high - low)
    if d.log:
        x = math.exp(x)
    if d.kind == "int":
        return int(min(max(round(x), d.low), d.high))
    return float(min(max(x, d.low), d.high))


def _encode(d: Dimension, value: Any) -> float:
    if d.kind == "categorical":
        return (d.choices.index(value) + _HALF_STEP) / len(d.choices)
    low, high = _interval(d)
    x = math.log(value) if d.log else float(value)
    return min(max((x - low) / (high - low), 0.0), 1.0)
