"""Studies in one Optuna storage: launching, listing, exporting."""

from __future__ import annotations

from studies.export import export_best
from studies.launch import LaunchResult, launch, run_study
from studies.listing import StudySummary, list_studies

__all__ = ["LaunchResult", "StudySummary", "export_best", "launch", "list_studies", "run_study"]
