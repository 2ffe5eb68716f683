"""Writing a comparison report: ``report.md``, the figures it links and ``summary.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from studies.compare import figures
from studies.compare.collect import StudyRun
from studies.compare.stats import EXACT_MAX_SPLITS, MONTE_CARLO_RESAMPLES, MONTE_CARLO_SEED, POWER
from studies.compare.summary import build_summary

SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"
FIGURES = {
    "best_vs_trials.png": "Best-so-far validation accuracy against finished trials",
    "best_vs_time.png": "Best-so-far validation accuracy against summed trial time",
    "best_vs_epochs.png": "The final model's validation accuracy against training epochs spent (compute)",
    "final_best.png": "Final best validation accuracy of each seed",
    "search_space.png": "Where each optimizer searched, coloured by validation accuracy",
}


def write_report(
    runs: Sequence[StudyRun], *, out: Path, storage: str, target: float | None,
    problems: Sequence[str], command: str | None,
) -> dict[str, Any]:
    """Write the report of ``runs`` into the directory ``out``; return the summary."""
    summary = build_summary(runs, storage=storage, target=target, problems=problems, command=command)
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    figures.plot_best_vs_trials(summary, out / "best_vs_trials.png")
    figures.plot_best_vs_time(summary, out / "best_vs_time.png")
    figures.plot_best_vs_epochs(summary, out / "best_vs_epochs.png")
    figures.plot_final_best(summary, out / "final_best.png")
    figures.plot_search_space(runs, out / "search_space.png")
    (out / REPORT_FILE).write_text(render_markdown(summary), encoding="utf-8")
    return summary


def render_markdown(summary: dict[str, Any]) -> str:
    """The report text for ``summary``: every number in it comes from the summary."""
    settings = summary["settings"]
    lines = ["# Optimizer comparison", ""]
    if summary["not_comparable"]:
        lines += ["> **Warning: these studies do not compare** (reported with --force): "
                  + "; ".join(summary["not_comparable"]), ""]
    lines += [
        "## Verdict", "", summary["verdict"], "",
        "## Set-up", "",
        f"- Limits per study: {settings['limits']}; training: {_kv(settings['train'])}, reduction factor "
        f"{_recorded(settings.get('reduction_factor'))}; "
        f"pruner: {_recorded(settings.get('pruner'))}; failures in a row that stop a run: "
        f"{_recorded(settings.get('max_failures'))}",
        f"- Data: {_kv({k: v for k, v in settings['data'].items() if k != 'location'})}",
        f"- Search space: {_space(settings['space'])}",
        f"- Storage: `{summary['storage']}`",
        f"- Target accuracy: {summary['target']['value']:.4f} ({summary['target']['rule']})",
    ]
    if summary["command"]:
        lines += ["", "Reproduce with:", "", "```bash", summary["command"], "```"]
    lines += ["", "## Results per optimizer", "", *_optimizer_table(summary), ""]
    lines += ["Trial time is the summed duration of a study's finished trials (what one worker spends; "
              "pauses between resumed runs do not count). Training time is the part spent in `fit`.", ""]
    lines += ["## Tests", "", *_test_table(summary["tests"]), ""]
    lines += ["## Figures", ""] + [f"![{caption}]({name})" for name, caption in FIGURES.items()]
    lines += ["", "## Studies", "", *_run_table(summary["runs"]), ""]
    return "\n".join(lines)


def _optimizer_table(summary: dict[str, Any]) -> list[str]:
    rows = ["| optimizer | seeds | best: mean ± std | median | min | max | epochs (mean) | configurations (mean) "
            "| at top rung (mean) | trial time s (mean) | training s (mean) | failed | pruned | HHO cache hits "
            "| reached target | trials to target (median) | epochs to target (median) "
            "| trial time to target s (median) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, o in summary["optimizers"].items():
        b = o["best"]
        rows.append(
            f"| {name} | {len(o['seeds'])} | {_f(b['mean'])} ± {_f(b['std'])} | {_f(b['median'])} | "
            f"{_f(b['min'])} | {_f(b['max'])} | {_f(o['epochs']['mean'], 1)} | "
            f"{_f(o['configurations']['mean'], 1)} | {_f(o['at_top_rung']['mean'], 1)} | "
            f"{_f(o['trial_seconds']['mean'], 1)} | "
            f"{_f(o['train_seconds']['mean'], 1)} | {o['failed']} | {o['pruned']} | {o['cache_hits']} | "
            f"{o['reached_target']} of {len(o['seeds'])} | {_f(o['trials_to_target']['median'], 1)} | "
            f"{_f(o['epochs_to_target']['median'], 1)} | {_f(o['seconds_to_target']['median'], 1)} |"
        )
    return rows


def _test_table(tests: list[dict[str, Any]]) -> list[str]:
    if not tests:
        return ["No pair of optimizers to test."]
    rows = ["Two-sided Mann-Whitney U on the final best validation accuracy of each seed (a seed without a "
            "complete trial counts with the worst value). p comes from the permutation distribution of U over "
            f"the splits of the pooled values, ties included: exact up to {EXACT_MAX_SPLITS:,} splits, else "
            f"{MONTE_CARLO_RESAMPLES:,} random splits (seed {MONTE_CARLO_SEED}). The smallest p is the lowest "
            "the test can give for these values.", "",
            "| pair | n | U | method | p | p (Holm) | smallest p | Vargha-Delaney A | Cliff's delta "
            f"| seeds needed ({POWER:.0%} power) | at alpha |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in tests:
        rows.append(
            f"| {t['first']} vs {t['second']} | {t['n_first']}, {t['n_second']} | {t['u_statistic']:g} | "
            f"{t['method']} | {t['p_value']:.3g} | {t['p_holm']:.3g} | {t['smallest_p_value']:.3g} | "
            f"{t['vargha_delaney_a']:.2f} | {t['cliffs_delta']:.2f} | "
            f"{t['seeds_needed'] if t['seeds_needed'] is not None else 'no effect seen'} | {t['seeds_alpha']:.3g} |"
        )
    return rows


def _run_table(runs: list[dict[str, Any]]) -> list[str]:
    rows = ["| study | optimizer | seed | best | epochs | configurations | at top rung | complete | failed | pruned "
            "| trial time s | trials to target | epochs to target |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        rows.append(
            f"| {r['study']} | {r['optimizer']} | {r['seed']} | {_f(r['best'])} | {r['epochs']} | "
            f"{r['configurations']} | {r['at_top_rung']} | {r['complete']} | "
            f"{r['failed']} | {r['pruned']} | {_f(r['trial_seconds'], 1)} | "
            f"{_reached(r['trials_to_target'])} | {_reached(r['epochs_to_target'])} |"
        )
    return rows


def _reached(value: int | None) -> str:
    return "not reached" if value is None else str(value)


def _recorded(value: Any) -> str:
    return "not recorded" if value is None else str(value)


def _f(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _kv(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in mapping.items())


def _space(space: dict[str, Any]) -> str:
    parts = []
    for name, spec in space.get("dimensions", {}).items():
        if "choices" in spec:
            parts.append(f"`{name}` in {spec['choices']}")
        else:
            log = " log" if spec.get("log") else ""
            parts.append(f"`{name}` {spec['type']} [{spec['low']:g}, {spec['high']:g}]{log}")
    return ", ".join(parts)
