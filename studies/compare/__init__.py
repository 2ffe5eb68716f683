"""Comparing optimizers: equal budgets, several seeds, a verdict backed by statistics."""

from __future__ import annotations

from studies.compare.collect import StudyRun, collect_runs
from studies.compare.run import ComparisonResult, compare, report_studies, study_name_for

__all__ = ["ComparisonResult", "StudyRun", "collect_runs", "compare", "report_studies", "study_name_for"]
