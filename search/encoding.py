"""The unit-cube encoding of a search space, for optimizers that search in R^d (HHO).

Every dimension maps to [0, 1]: ranges linearly (in log space when ``log``), integers
over ``[low - 0.5, high + 0.5]`` then rounded, so every integer gets an equal share;
categoricals by equal slices, one per choice. Decoded values are plain Python
``int``/``float``/choice objects, never numpy scalars (Optuna's storage needs JSON).

The round trip is exact: ``decode(encode(params)) == params`` bit for bit, for every
dimension type. Integers and choices get it from the formula (a point inside the value's
cell decodes to it). Floats cannot: ``low + u * (high - low)`` and ``exp(log(x))`` round,
so a stored value can come back one float step away (and an HHO warm start would then
miss its cache, which is keyed on decoded params). So the encoding remembers, per float
dimension, the exact value behind each coordinate :meth:`UnitCubeEncoding.encode`
returned, and :meth:`UnitCubeEncoding.decode` gives that value at that coordinate;
0 and 1 are the exact bounds. Any other coordinate decodes by the formula.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from search.space import Dimension, SearchSpace

_HALF_STEP = 0.5
_CENTRE = 0.5  # the middle of a coordinate's range: a taken coordinate is nudged away from the nearer bound


class UnitCubeEncoding:
    """Map between parameter dicts of ``space`` and points of ``[0, 1]^len(space)``.

    Stateful for float dimensions only: the exact values behind encoded coordinates (see
    the module docstring). Two encodings of one space decode every point alike, except
    the coordinates one of them encoded.
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self._exact: dict[str, dict[float, float]] = {
            d.name: {0.0: float(d.low), 1.0: float(d.high)} for d in space if d.kind == "float"
        }

    @property
    def n_dims(self) -> int:
        return len(self.space)

    def decode(self, point: np.ndarray) -> dict[str, Any]:
        """The parameters at ``point`` (clipped into the cube first)."""
        clipped = np.clip(np.asarray(point, dtype=float), 0.0, 1.0)
        return {d.name: self._decode(d, float(u)) for d, u in zip(self.space, clipped, strict=True)}

    def encode(self, params: dict[str, Any]) -> np.ndarray:
        """A point that decodes to exactly ``params`` (the centre of its cell for ints and choices)."""
        return np.array([self._encode(d, params[d.name]) for d in self.space], dtype=float)

    def _decode(self, d: Dimension, u: float) -> Any:
        exact = self._exact.get(d.name, {}).get(u)
        return exact if exact is not None else _decode(d, u)

    def _encode(self, d: Dimension, value: Any) -> float:
        u = _encode(d, value)
        exact = self._exact.get(d.name)
        if exact is None:  # an int or a choice: the formula decodes back to it
            return u
        value = float(value)
        away = 0.0 if u > _CENTRE else 1.0  # one direction, so the search cannot go back and forth
        while exact.get(u, value) != value:  # the coordinate stands for another value already
            u = math.nextafter(u, away)
        exact[u] = value
        return u


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
    if high == low:  # bounds a float step apart, equal once logged: the memory tells the values apart
        return _CENTRE
    x = math.log(value) if d.log else float(value)
    return min(max((x - low) / (high - low), 0.0), 1.0)
