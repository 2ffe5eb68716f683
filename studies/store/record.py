"""What a study records about itself, as Optuna study user attributes.

Everything needed to understand, resume, compare and reproduce a study: the
optimizer and its settings, the seed, the budget, the search space, the training
settings, the data source and split sizes, and the package versions. Attributes are
plain JSON, readable by Optuna's own CLI and dashboard.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
from typing import Any

import optuna

from models.data import DATA_IDENTITY
from search.schedulers import Rungs

PRODUCT = "lstm-tuner"
# The largest --trials; a study bounded only by epochs or time records it as its budget (no cap).
MAX_TRIALS = 100_000
_VERSIONED = ("lstm-tuner", "optuna", "keras", "tensorflow-cpu", "tensorflow", "mealpy", "numpy")
# Fields a resumed run must share with the stored study; the others may differ.
MUST_MATCH = ("optimizer", "seed", "space", "train", "data", "optimizer_settings", "pruner", "reduction_factor")


@dataclasses.dataclass(frozen=True)
class StudyRecord:
    optimizer: str
    optimizer_settings: dict[str, Any]
    seed: int
    budget: int
    space: dict[str, Any]
    train: dict[str, Any]
    data: dict[str, Any]
    pruner: str = "none"  # studies made before pruning existed never pruned
    # The budget the optimizer's settings were planned for: the first one (a resume may
    # raise ``budget``); None in studies made before it was recorded.
    initial_budget: int | None = None
    # The host the study was created on (a SQLite study can only be worked on there).
    created_on: str | None = None
    # Failed trials in a row that stop a run; None in studies made before it was recorded.
    max_failures: int | None = None
    # Successive halving keeps 1/reduction_factor of each rung (``train["rungs"]``); None in
    # studies made before rungs existed (one rung).
    reduction_factor: int | None = None
    # Training epochs all trials together may use (None: no limit), and the seconds each
    # launch may run before no trial starts (None: no limit).
    epoch_budget: int | None = None
    timeout: float | None = None
    # Where checkpoints are kept (Optuna's artifact store, a directory).
    artifacts: str | None = None
    versions: dict[str, str] = dataclasses.field(default_factory=lambda: package_versions())

    def write(self, study: optuna.Study) -> None:
        for key, value in dataclasses.asdict(self).items():
            study.set_user_attr(key, value)
        study.set_user_attr("product", PRODUCT)

    @classmethod
    def read(cls, study: optuna.Study | optuna.study.StudySummary) -> StudyRecord | None:
        """The record of ``study``; None for a study this tool did not create."""
        attrs = study.user_attrs
        if attrs.get("product") != PRODUCT:
            return None
        names = [f.name for f in dataclasses.fields(cls)]
        fields = {n: attrs[n] for n in names if n in attrs}
        if isinstance(fields.get("data"), dict):
            fields["data"] = _current_data_record(fields["data"])
        if isinstance(fields.get("train"), dict) and "rungs" not in fields["train"] and "epochs" in fields["train"]:
            # made before rungs existed: every trial trained the study's epochs, one rung
            fields["train"] = {**fields["train"], "rungs": [fields["train"]["epochs"]]}
        return cls(**fields)

    @property
    def trial_cap(self) -> int | None:
        """The most configurations the study may screen (None: only epochs or time bound it)."""
        return trial_cap(self.budget)

    @property
    def rungs(self) -> Rungs:
        """The study's training lengths (one rung of ``epochs`` for a record made before rungs)."""
        return Rungs(tuple(self.train.get("rungs") or (self.train.get("epochs", 1),)))

    def limits_text(self) -> str:
        """The study's limits in words (see :func:`limits_text`)."""
        return limits_text(trials=self.budget, epochs=self.epoch_budget, seconds=self.timeout)

    def differences(self, other: StudyRecord) -> list[str]:
        """Lines ``field: stored X, given Y`` for every field in :data:`MUST_MATCH` that differs.

        Data compare by identity only (kind, digest, split sizes), not by the path given;
        a digest missing from an older record is not compared.
        """
        mine, theirs = dataclasses.asdict(self), dataclasses.asdict(other)
        mine["data"] = data_identity(mine["data"])
        theirs["data"] = {k: v for k, v in data_identity(theirs["data"]).items() if k in mine["data"]}
        return [
            f"{name}: stored {mine[name]!r}, given {theirs[name]!r}"
            for name in MUST_MATCH
            if canonical(mine[name]) != canonical(theirs[name])
        ]


def trial_cap(budget: int) -> int | None:
    """The configurations a ``budget`` of trials caps (None for :data:`MAX_TRIALS`: no cap)."""
    return budget if budget < MAX_TRIALS else None


def limits_text(*, trials: int, epochs: int | None, seconds: float | None) -> str:
    """Limits in words, e.g. ``at most 20 configurations, 30 training epochs, 600 s per launch``."""
    cap = trial_cap(trials)
    limits = [f"at most {cap} configurations"] if cap is not None else []
    if epochs is not None:
        limits.append(f"{epochs} training epochs")
    if seconds is not None:
        limits.append(f"{seconds:.10g} s per launch")
    return ", ".join(limits) or "no limit"


def data_identity(data: dict[str, Any]) -> dict[str, Any]:
    """The fields of a data record that say which data it is (see :data:`models.data.DATA_IDENTITY`)."""
    return {k: data[k] for k in DATA_IDENTITY if k in data}


def _current_data_record(data: dict[str, Any]) -> dict[str, Any]:
    """A data record in today's form: records made before digests kept the path as
    ``location`` and in ``source`` (``idx:/path``); the path becomes ``given``."""
    data = dict(data)
    if "location" in data:
        data.setdefault("given", data.pop("location"))
    data["source"] = str(data.get("source", "")).split(":", 1)[0]
    return data


def canonical(value: Any) -> Any:
    """Compare JSON-like values as JSON sees them (tuples are lists, ints equal floats)."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
