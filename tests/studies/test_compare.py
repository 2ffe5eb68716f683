"""The comparison report: its numbers recomputed from the stored trials, resume, refusals."""

from __future__ import annotations

import datetime
import json
import statistics

import matplotlib.image
import optuna
import pytest
from optuna.trial import TrialState
from scipy import stats as scipy_stats

import run_search
from search.space import DEFAULT_SPACE
from studies.compare import StudyRun
from studies.compare.collect import comparability_problems
from studies.compare.metrics import run_metrics
from studies.compare.summary import build_summary
from studies.record import StudyRecord
from tests.helpers import tiny_space_file

START = datetime.datetime(2026, 1, 1)


def _trial(number, state, value, seconds, offset):
    trial = optuna.trial.create_trial(state=state, value=value if state == TrialState.COMPLETE else None,
                                      params={"units": 10 + number},
                                      distributions={"units": optuna.distributions.IntDistribution(1, 100)},
                                      user_attrs={"train_seconds": seconds / 2})
    trial.number = number
    trial.datetime_start = START + datetime.timedelta(seconds=offset)
    trial.datetime_complete = trial.datetime_start + datetime.timedelta(seconds=seconds)
    return trial


def _run(name, optimizer, seed, outcomes, *, train=None):
    record = StudyRecord(optimizer=optimizer, optimizer_settings={}, seed=seed, budget=len(outcomes),
                         space=DEFAULT_SPACE.to_dict(), train=train or {"epochs": 1, "batch_size": 128},
                         data={"source": "x", "train": 1, "val": 1, "test": 1})
    trials = [_trial(i, state, value, seconds, offset=100 * i) for i, (state, value, seconds) in enumerate(outcomes)]
    return StudyRun(name=name, record=record, trials=tuple(trials), cache_hits=0)


C, F, P = TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED


def test_run_metrics_best_so_far_time_and_target():
    run = _run("s", "tpe", 0, [(F, None, 2.0), (C, 0.5, 3.0), (P, None, 1.0), (C, 0.8, 4.0), (C, 0.7, 5.0)])
    m = run_metrics(run, target=0.75)
    assert m["best_so_far"] == [None, 0.5, 0.5, 0.8, 0.8]
    assert m["elapsed_seconds"] == [2.0, 5.0, 6.0, 10.0, 15.0]
    assert (m["best"], m["trial_seconds"], m["train_seconds"]) == (0.8, 15.0, 7.5)
    assert (m["complete"], m["failed"], m["pruned"]) == (3, 1, 1)
    assert (m["trials_to_target"], m["seconds_to_target"]) == (4, 10.0)
    assert run_metrics(run, target=0.9)["trials_to_target"] is None


def _separated(low_optimizer_values, high_optimizer_values):
    runs = [_run(f"a{i}", "hho", i, [(C, v, 1.0)]) for i, v in enumerate(low_optimizer_values)]
    runs += [_run(f"b{i}", "tpe", i, [(C, v, 1.0)]) for i, v in enumerate(high_optimizer_values)]
    return build_summary(runs, storage="sqlite:///x.db", target=None, problems=[], command=None)


def test_verdict_names_the_winner_only_when_the_test_says_so():
    clear = _separated([0.90, 0.91, 0.92, 0.93], [0.95, 0.96, 0.97, 0.98])
    assert clear["tests"][0]["p_value"] == pytest.approx(2 / 70) and clear["tests"][0]["significant"]
    assert clear["verdict"].startswith("tpe found better configurations than hho at this budget")
    few = _separated([0.90, 0.91, 0.92], [0.95, 0.96, 0.97])
    assert not few["tests"][0]["significant"]
    assert few["verdict"].startswith("No significant difference between hho and tpe at this budget")
    assert "smallest p-value the test can give is 0.1" in few["verdict"]
    assert "about 6 seeds per optimizer" in few["verdict"]


def test_default_target_is_a_fraction_of_the_best_seen():
    summary = _separated([0.5, 0.6], [0.7, 0.8])
    assert summary["target"]["value"] == pytest.approx(0.99 * 0.8)
    assert summary["best_overall"]["study"] == "b1" and summary["best_overall"]["value"] == 0.8


def test_comparability_problems_name_the_field_and_the_short_study():
    a = _run("a", "hho", 0, [(C, 0.5, 1.0), (C, 0.6, 1.0)])
    b = _run("b", "tpe", 0, [(C, 0.5, 1.0), (C, 0.6, 1.0)], train={"epochs": 3, "batch_size": 128})
    assert any(p.startswith("train: a has") for p in comparability_problems([a, b]))
    short = StudyRun(name="c", record=a.record, trials=a.trials[:1], cache_hits=0)
    assert comparability_problems([a, short]) == ["c holds 1 finished trials of its budget 2"]


TRIALS, SEEDS = 3, 2


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    """A real (tiny) comparison run through the CLI: hho and tpe, 2 seeds, 3 trials each."""
    directory = tmp_path_factory.mktemp("cmp")
    url = f"sqlite:///{directory / 'c.db'}"
    args = ["compare", "--optimizers", "hho,tpe", "--trials", str(TRIALS), "--seeds", str(SEEDS), "--epochs", "1",
            "--data", "mnist-5k", "--space", str(tiny_space_file(directory)), "--storage", url,
            "--out", str(directory / "out")]
    assert run_search.main(args) == 0
    return directory, url, args


def _stored(url):
    """The studies of the comparison (other tests add studies of other names)."""
    storage = optuna.storages.RDBStorage(url)
    names = [n for n in optuna.get_all_study_names(storage) if n.startswith("compare-")]
    return {name: optuna.load_study(study_name=name, storage=storage) for name in names}


@pytest.mark.slow
def test_compare_stores_every_study_with_its_budget(comparison):
    _, url, _ = comparison
    studies = _stored(url)
    assert sorted(studies) == sorted(f"compare-{o}-seed{s}" for o in ("hho", "tpe") for s in range(SEEDS))
    for study in studies.values():
        finished = [t for t in study.trials if t.state in (C, F, P)]
        assert len(finished) == TRIALS and len(study.trials) == TRIALS


@pytest.mark.slow
def test_every_number_of_the_summary_is_recomputed_from_the_stored_trials(comparison):
    directory, url, _ = comparison
    summary = json.loads((directory / "out" / "summary.json").read_text())
    studies = _stored(url)
    best = {}
    for name, study in studies.items():
        values = [t.value for t in study.trials if t.state == C]
        durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in study.trials]
        run = next(r for r in summary["runs"] if r["study"] == name)
        assert run["best"] == max(values)
        assert run["trial_seconds"] == pytest.approx(sum(durations))
        assert run["train_seconds"] == pytest.approx(sum(t.user_attrs["train_seconds"] for t in study.trials))
        assert run["best_so_far"] == [max(values[: i + 1]) for i in range(len(values))]
        best.setdefault(study.user_attrs["optimizer"], []).append(max(values))
    for optimizer, values in best.items():
        described = summary["optimizers"][optimizer]["best"]
        assert described["mean"] == pytest.approx(statistics.fmean(values))
        assert described["median"] == pytest.approx(statistics.median(values))
        assert (described["min"], described["max"]) == (min(values), max(values))
    test = summary["tests"][0]
    expected = scipy_stats.mannwhitneyu(best["hho"], best["tpe"], alternative="two-sided")
    assert test["p_value"] == pytest.approx(expected.pvalue)
    overall = max(v for values in best.values() for v in values)
    assert summary["best_overall"]["value"] == overall
    assert summary["target"]["value"] == pytest.approx(0.99 * overall)


@pytest.mark.slow
def test_report_shows_the_summary_numbers_and_readable_figures(comparison):
    directory, _, args = comparison
    out = directory / "out"
    summary = json.loads((out / "summary.json").read_text())
    report = (out / "report.md").read_text()
    assert summary["verdict"] in report
    for optimizer, o in summary["optimizers"].items():
        assert f"| {optimizer} | {SEEDS} | {o['best']['mean']:.4f} ± {o['best']['std']:.4f} |" in report
    for name in ("best_vs_trials.png", "best_vs_time.png", "final_best.png", "search_space.png"):
        image = matplotlib.image.imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
        assert f"]({name})" in report
    assert "python run_search.py " + " ".join(args[:4]) in report


@pytest.mark.slow
def test_resume_trains_nothing_and_writes_the_same_numbers(comparison):
    directory, url, args = comparison
    before_summary = (directory / "out" / "summary.json").read_bytes()
    before_trials = {n: [t._trial_id for t in s.trials] for n, s in _stored(url).items()}
    assert run_search.main([*args, "--resume"]) == 0
    assert {n: [t._trial_id for t in s.trials] for n, s in _stored(url).items()} == before_trials
    assert (directory / "out" / "summary.json").read_bytes() == before_summary


@pytest.mark.slow
def test_compare_without_resume_refuses_existing_studies(comparison, capsys):
    _, _, args = comparison
    assert run_search.main(args) == 2
    assert "study 'compare-hho-seed0' of this comparison already exists: add --resume" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_studies_refuses_incomparable_ones_unless_forced(comparison, tmp_path, capsys):
    directory, url, _ = comparison
    space = tiny_space_file(tmp_path)
    assert run_search.main(["launch", "--study", "other", "--trials", "2", "--epochs", "1", "--data", "mnist-5k",
                            "--space", str(space), "--storage", url, "--no-progress"]) == 0
    base = ["compare", "--studies", "compare-hho-seed0,other", "--storage", url, "--out", str(tmp_path / "r")]
    assert run_search.main(base) == 2
    err = capsys.readouterr().err
    assert "these studies do not compare: budget: compare-hho-seed0 has 3, other has 2" in err
    assert not (tmp_path / "r").exists()
    assert run_search.main([*base, "--force"]) == 0
    assert "**Warning: these studies do not compare**" in (tmp_path / "r" / "report.md").read_text()


@pytest.mark.slow
def test_export_compare_writes_the_overall_winner(comparison, tmp_path):
    directory, _, _ = comparison
    summary = json.loads((directory / "out" / "summary.json").read_text())
    out = tmp_path / "winner.json"
    assert run_search.main(["export", "--compare", str(directory / "out"), "--out", str(out)]) == 0
    config = json.loads(out.read_text())
    best = summary["best_overall"]
    assert (config["study"], config["trial"], config["validation_accuracy"]) == (best["study"], best["trial"], best["value"])
    assert config["params"] == best["params"]
