"""Running a comparison: K seeded studies per optimizer, same budget, then the report.

The API behind ``run_search.py compare``. Study names are ``{name}-{optimizer}-seed{k}``,
so a comparison is recognisable in ``list`` and an interrupted one continues with
``resume=True``. Every check on user input runs before the first study is written.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import optuna

from models.data import check_source
from models.errors import ConfigError, check_whole_number
from search.objective import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, TrainSettings
from search.optimizers import OPTIMIZERS
from search.space import SearchSpace
from search.space_file import load_space_file
from studies.compare.collect import StudyRun, check_comparable, collect_runs
from studies.compare.report import write_report
from studies.config import MAX_TRIALS, check_study_name
from studies.launch import launch
from studies.running.pruners import check_pruner
from studies.store.storage import open_storage, resolve_url

_logger = logging.getLogger(__name__)

MAX_SEEDS = 1000
DEFAULT_NAME = "compare"
DEFAULT_OUT = "comparison"


@dataclasses.dataclass(frozen=True)
class ComparisonResult:
    out: Path
    studies: tuple[str, ...]
    summary: dict


def study_name_for(name: str, optimizer: str, seed: int) -> str:
    return f"{name}-{optimizer}-seed{seed}"


def compare(
    *,
    optimizers: Sequence[str],
    trials: int | None,
    seeds: int,
    epochs: int | None = None,
    batch_size: int | None = None,
    data: str | None = None,
    space: SearchSpace | str | Path | None = None,
    storage: str | None = None,
    out: str | Path = DEFAULT_OUT,
    name: str = DEFAULT_NAME,
    resume: bool = False,
    target: float | None = None,
    pruner: str | None = None,
    max_failures: int | None = None,
    command: str | None = None,
    worker_init: Callable[[], None] | None = None,
    rungs: tuple[int, ...] | None = None,
    reduction_factor: int | None = None,
    epoch_budget: int | None = None,
    timeout: float | None = None,
    artifacts: str | Path | None = None,
) -> ComparisonResult:
    """Run ``seeds`` studies (seeds 0..K-1) per optimizer, each with the same budget of
    ``trials`` configurations and ``epoch_budget`` training epochs (equal compute), then report.

    Studies run seed by seed, alternating optimizers, so load on a shared machine falls
    on all of them alike. ``command`` is written into the report as the way to reproduce it;
    ``worker_init`` is what worker processes call first (see :func:`studies.launch.launch`).

    Raises:
        ConfigError: bad input, or (without ``resume``) a study of the comparison exists.
    """
    names = _check_optimizers(optimizers)
    if trials is None and epoch_budget is None:
        raise ConfigError("compare needs --trials or --epoch-budget: the budget every study gets")
    if trials is not None:
        check_whole_number("--trials", trials, low=1, high=MAX_TRIALS)
    check_whole_number("--seeds", seeds, low=1, high=MAX_SEEDS)
    out_dir = check_out_dir(out)
    check_target(target)
    space = load_space_file(space) if isinstance(space, (str, Path)) else space
    _check_training(epochs=epochs, batch_size=batch_size, data=data, pruner=pruner)
    plan = [(opt, seed, study_name_for(name, opt, seed)) for seed in range(seeds) for opt in names]
    for _, _, study_name in plan:
        check_study_name(study_name)
    store = open_storage(storage, must_exist=False)
    existing = set(optuna.get_all_study_names(store))
    _refuse_existing([s for _, _, s in plan if s in existing], resume=resume)
    for index, (opt, seed, study_name) in enumerate(plan, start=1):
        _logger.info("Comparison: study %d of %d, %s", index, len(plan), study_name)
        launch(
            study_name=study_name, trials=trials, optimizer=opt, storage=storage, epochs=epochs,
            batch_size=batch_size, data=data, space=space, seed=seed, resume=study_name in existing,
            pruner=pruner, max_failures=max_failures, worker_init=worker_init, rungs=rungs,
            reduction_factor=reduction_factor, epoch_budget=epoch_budget, timeout=timeout,
            artifacts=artifacts,
        )
    runs = collect_runs(storage=store, names=[s for _, _, s in plan])
    check_comparable(runs, force=False)
    return _report(runs, out_dir, storage=storage, target=target, problems=[], command=command)


def report_studies(
    *,
    studies: Sequence[str],
    storage: str | None = None,
    out: str | Path = DEFAULT_OUT,
    force: bool = False,
    target: float | None = None,
    command: str | None = None,
) -> ComparisonResult:
    """The comparison report of studies that already exist (``compare --studies``).

    Raises:
        ConfigError: unknown studies, or studies that do not compare and not ``force``.
    """
    if len(studies) < 2 or len(set(studies)) != len(studies):
        raise ConfigError(f"--studies needs two or more distinct study names, but got {','.join(studies)!r}")
    out_dir = check_out_dir(out)
    check_target(target)
    store = open_storage(storage, must_exist=True)
    runs = collect_runs(storage=store, names=studies)
    problems = check_comparable(runs, force=force)
    return _report(runs, out_dir, storage=storage, target=target, problems=problems, command=command)


def check_out_dir(out: str | Path) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {str(path)!r} is a file; the report needs a directory")
    if not path.parent.is_dir():
        raise ConfigError(f"--out {str(path)!r}: directory {str(path.parent)!r} does not exist")
    return path


def check_target(target: float | None) -> None:
    if target is None:
        return
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0.0 < target <= 1.0:
        raise ConfigError(f"--target must be a validation accuracy in (0, 1], but got {target!r}")


def _check_training(*, epochs: int | None, batch_size: int | None, data: str | None, pruner: str | None) -> None:
    """The per-study settings, checked once before the first study is written."""
    TrainSettings(epochs=epochs or DEFAULT_EPOCHS, batch_size=batch_size or DEFAULT_BATCH_SIZE)
    if data is not None:
        check_source(data)
    if pruner is not None:
        check_pruner(pruner)


def _refuse_existing(clash: list[str], *, resume: bool) -> None:
    if clash and not resume:
        raise ConfigError(
            f"study {clash[0]!r} of this comparison already exists: add --resume to continue "
            "the comparison, or choose another --name"
        )


def _check_optimizers(optimizers: Sequence[str]) -> list[str]:
    names = [o.strip() for o in optimizers if o.strip()]
    unknown = [o for o in names if o not in OPTIMIZERS]
    if unknown:
        raise ConfigError(f"unknown optimizer {unknown[0]!r} in --optimizers; choose from {', '.join(OPTIMIZERS)}")
    if len(names) != len(set(names)) or not names:
        raise ConfigError(f"--optimizers must name distinct optimizers, but got {','.join(optimizers)!r}")
    return names


def _report(
    runs: list[StudyRun], out: Path, *, storage: str | None, target: float | None,
    problems: list[str], command: str | None,
) -> ComparisonResult:
    out.mkdir(exist_ok=True)
    summary = write_report(runs, out=out, storage=resolve_url(storage), target=target,
                           problems=problems, command=command)
    _logger.info("Wrote %s and %s", out / "report.md", out / "summary.json")
    return ComparisonResult(out=out, studies=tuple(r.name for r in runs), summary=summary)
