"""The figures of a comparison report, drawn with matplotlib's Agg canvas (no display).

Each function takes the summary (and, for the search-space view, the runs) and writes
one PNG; together they show how fast each optimizer improved, where it searched and how
its final results spread over seeds.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from optuna.trial import TrialState

from search.space import Dimension, SearchSpace
from studies.compare.collect import StudyRun

DPI = 110
TIME_GRID_POINTS = 200
MAX_PAIRS = 6
PANEL_INCHES = 3.2
# Axes of the search-space view reach this factor beyond a dimension's bounds.
AXIS_MARGIN = 1.05
MAX_TICKS = 5
ACCURACY_LABEL = "best validation accuracy so far"
# Dimensions shown first in the search-space view, when the space has them.
LEADING_DIMENSIONS = ("learning_rate", "units")


def plot_best_vs_trials(summary: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for name, runs in _runs_by_optimizer(summary).items():
        curves = _padded([[np.nan if v is None else v for v in r["best_so_far"]] for r in runs])
        x = np.arange(1, curves.shape[1] + 1)
        _mean_and_band(ax, x, curves, label=f"{name} ({len(runs)} seeds)")
    _target_line(ax, summary)
    ax.set(title="Best-so-far validation accuracy by trial (mean, band = min-max over seeds)",
           xlabel="finished trials", ylabel=ACCURACY_LABEL)
    _finish(fig, ax, path)


def plot_best_vs_time(summary: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    horizon = max((r["elapsed_seconds"][-1] for r in summary["runs"] if r["elapsed_seconds"]), default=0.0)
    grid = np.linspace(0.0, horizon, TIME_GRID_POINTS)
    for name, runs in _runs_by_optimizer(summary).items():
        curves = np.array([_step_at(grid, r["elapsed_seconds"], r["best_so_far"]) for r in runs])
        _mean_and_band(ax, grid, curves, label=f"{name} ({len(runs)} seeds)")
    _target_line(ax, summary)
    ax.set(title="Best-so-far validation accuracy by trial time (mean, band = min-max)",
           xlabel="summed trial time (s)", ylabel=ACCURACY_LABEL)
    _finish(fig, ax, path)


def plot_best_vs_epochs(summary: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    horizon = max((r["epochs_so_far"][-1] for r in summary["runs"] if r.get("epochs_so_far")), default=0)
    grid = np.linspace(0.0, float(horizon), TIME_GRID_POINTS)
    for name, runs in _runs_by_optimizer(summary).items():
        curves = np.array([_step_at(grid, [float(e) for e in r.get("epochs_so_far", [])], r["best_so_far"])
                           for r in runs])
        _mean_and_band(ax, grid, curves, label=f"{name} ({len(runs)} seeds)")
    _target_line(ax, summary)
    ax.set(title="Final model's validation accuracy by compute spent (mean, band = min-max)",
           xlabel="training epochs, all trials", ylabel=ACCURACY_LABEL)
    _finish(fig, ax, path)


def _padded(curves: list[list[float]]) -> np.ndarray:
    """Curves of unequal length (studies of one epoch budget run different numbers of
    trials), each held at its last value to the longest one's length."""
    width = max((len(c) for c in curves), default=0)
    return np.array([c + [c[-1] if c else np.nan] * (width - len(c)) for c in curves], dtype=float)


def plot_final_best(summary: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    names = list(summary["optimizers"])
    for i, name in enumerate(names):
        values = [v for v in summary["optimizers"][name]["best_values"] if v is not None]
        ax.boxplot([values], positions=[i], widths=0.5, showfliers=False)
        ax.scatter(np.full(len(values), i), values, zorder=3, label=None)
    ax.set_xticks(range(len(names)), names)
    ax.set(title="Final best validation accuracy per seed", xlabel="optimizer",
           ylabel="best validation accuracy")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)


def plot_search_space(runs: Sequence[StudyRun], path: Path) -> None:
    """Per optimizer (rows), the sampled values of pairs of dimensions, coloured by accuracy."""
    space = SearchSpace.from_dict(runs[0].record.space)
    pairs = _pairs(space)
    names = list(dict.fromkeys(r.optimizer for r in runs))
    values = [t.value for r in runs for t in r.trials if t.state == TrialState.COMPLETE and t.value is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    fig = Figure(figsize=(PANEL_INCHES * len(pairs) + 1, PANEL_INCHES * len(names)), layout="constrained")
    axes = fig.subplots(len(names), len(pairs), squeeze=False)
    mappable = None
    for row, name in enumerate(names):
        trials = [t for r in runs if r.optimizer == name for t in r.trials]
        for col, (dx, dy) in enumerate(pairs):
            mappable = _scatter_pair(axes[row][col], trials, dx, dy, vmin=lo, vmax=hi) or mappable
            axes[row][col].set_title(f"{name}: {dy.name} vs {dx.name}", fontsize=9)
    if mappable is not None:
        fig.colorbar(mappable, ax=axes, label="validation accuracy (grey x: failed or pruned)")
    fig.suptitle("Where each optimizer searched (all seeds)")
    fig.savefig(path, dpi=DPI)


def _runs_by_optimizer(summary: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {name: [r for r in summary["runs"] if r["optimizer"] == name] for name in summary["optimizers"]}


def _mean_and_band(ax: Any, x: np.ndarray, curves: np.ndarray, *, label: str) -> None:
    """Mean over seeds where every seed has a value, and the min-max band there."""
    defined = ~np.isnan(curves).any(axis=0)
    if not defined.any():
        return
    xs, ys = x[defined], curves[:, defined]
    (line,) = ax.plot(xs, ys.mean(axis=0), label=label, drawstyle="steps-post")
    ax.fill_between(xs, ys.min(axis=0), ys.max(axis=0), step="post", alpha=0.2, color=line.get_color())


def _step_at(grid: np.ndarray, times: list[float], values: list[float | None]) -> np.ndarray:
    """The best-so-far value at each grid time (NaN before the first complete trial)."""
    series = np.array([np.nan if v is None else v for v in values], dtype=float)
    index = np.searchsorted(np.asarray(times), grid, side="right") - 1
    return np.where(index >= 0, series[np.clip(index, 0, None)], np.nan)


def _target_line(ax: Any, summary: dict[str, Any]) -> None:
    ax.axhline(summary["target"]["value"], color="grey", linestyle="--", linewidth=1,
               label=f"target {summary['target']['value']:.4f}")


def _finish(fig: Figure, ax: Any, path: Path) -> None:
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)


def _pairs(space: SearchSpace) -> list[tuple[Dimension, Dimension]]:
    rank = {name: i for i, name in enumerate(LEADING_DIMENSIONS)}
    dims = sorted(space, key=lambda d: rank.get(d.name, len(rank)))
    if len(dims) == 1:
        return [(dims[0], dims[0])]
    return list(itertools.combinations(dims, 2))[:MAX_PAIRS]


def _scatter_pair(ax: Any, trials: list[Any], dx: Dimension, dy: Dimension, *, vmin: float, vmax: float) -> Any:
    shown = [t for t in trials if dx.name in t.params and dy.name in t.params]
    good = [t for t in shown if t.state == TrialState.COMPLETE and t.value is not None]
    bad = [t for t in shown if t.state != TrialState.COMPLETE or t.value is None]
    mappable = None
    if good:
        mappable = ax.scatter([_coord(dx, t) for t in good], [_coord(dy, t) for t in good],
                              c=[t.value for t in good], cmap="viridis", vmin=vmin, vmax=vmax, s=22)
    if bad:
        ax.scatter([_coord(dx, t) for t in bad], [_coord(dy, t) for t in bad], marker="x", color="grey", s=22)
    for dim, axis in ((dx, ax.xaxis), (dy, ax.yaxis)):
        _format_axis(ax, dim, axis)
    return mappable


def _coord(dim: Dimension, trial: Any) -> float:
    value = trial.params.get(dim.name)
    return float(dim.choices.index(value)) if dim.kind == "categorical" else float(value)


def _format_axis(ax: Any, dim: Dimension, axis: Any) -> None:
    """Label the axis, and span it over the dimension's whole range so coverage shows."""
    horizontal = axis is ax.xaxis
    (ax.set_xlabel if horizontal else ax.set_ylabel)(dim.name + (" (log scale)" if dim.log else ""))
    if dim.kind == "categorical":
        (ax.set_xticks if horizontal else ax.set_yticks)(range(len(dim.choices)), [str(c) for c in dim.choices])
        return
    if dim.log:
        (ax.set_xscale if horizontal else ax.set_yscale)("log")
        low, high = dim.low / AXIS_MARGIN, dim.high * AXIS_MARGIN
    else:
        pad = (dim.high - dim.low) * (AXIS_MARGIN - 1) or AXIS_MARGIN - 1
        low, high = dim.low - pad, dim.high + pad
    (ax.set_xlim if horizontal else ax.set_ylim)(low, high)
    if dim.kind == "int" and not dim.log:
        axis.set_major_locator(MaxNLocator(nbins=MAX_TICKS, integer=True))
