"""Exporting a study's best configuration, and retraining it to score it on the test split."""

from __future__ import annotations

from studies.export.best import best_config, export_best, winner_of

__all__ = ["best_config", "export_best", "winner_of"]
