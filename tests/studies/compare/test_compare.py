"""The comparison report: its numbers recomputed from the stored trials, resume, refusals."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import statistics

import matplotlib.image
import optuna
import pytest
from optuna.trial import TrialState

import run_search
from models.errors import ConfigError
from search.space import DEFAULT_SPACE
from studies.compare import StudyRun
from studies.compare.collect import check_comparable, collect_runs, comparability_problems
from studies.compare.metrics import run_metrics
from studies.compare.report import render_markdown
from studies.compare.stats import seeds_needed
from studies.compare.summary import build_summary
from studies.store.record import MAX_TRIALS, StudyRecord
from studies.store.storage import open_storage
from tests.helpers import tiny_space_file
from tests.studies.compare.test_stats import brute_force_p

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


def _run(name, optimizer, seed, outcomes, *, train=None, data=None, **record_fields):
    record = StudyRecord(optimizer=optimizer, optimizer_settings={}, seed=seed, budget=len(outcomes),
                         space=DEFAULT_SPACE.to_dict(), train=train or {"epochs": 1, "batch_size": 128},
                         data=data or {"source": "x", "train": 1, "val": 1, "test": 1}, **record_fields)
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


FLOOR_SENTENCE = re.compile(r"the smallest p-value the test can give is ([0-9.e-]+)")
P_VALUE = re.compile(r" p = ([0-9.e-]+), (not )?below alpha = ([0-9.]+)")


@pytest.mark.parametrize(("low", "high", "p"), [
    ([0.97, 0.97, 0.97], [0.98, 0.98, 0.98], 0.1),  # the normal approximation said 0.0469
    ([0.97, 0.97, 0.97, 0.97], [0.98, 0.98, 0.98], 2 / 35),  # it said 0.0247
    ([0.97, 0.97, 0.97], [0.98, 0.98, 0.975], 0.1),  # it said 0.0593 next to "smallest is 0.1"
])
def test_tied_seeds_get_the_exact_p_value_and_a_consistent_verdict(low, high, p):
    summary = _separated(low, high)
    test = summary["tests"][0]
    assert test["p_value"] == pytest.approx(p) and test["method"] == "exact"
    assert test["p_value"] == pytest.approx(brute_force_p(low, high))
    assert not test["significant"] and test["p_holm"] >= test["smallest_p_value"]
    text = summary["verdict"]
    assert text.startswith("No significant difference between hho and tpe at this budget")
    assert "found better" not in text
    quoted_p, negated, alpha = P_VALUE.search(text).groups()
    assert negated and float(quoted_p) >= float(alpha) == 0.05
    floor = FLOOR_SENTENCE.search(text)
    assert floor is not None and float(floor.group(1)) == pytest.approx(test["smallest_p_value"], rel=1e-3)
    assert float(quoted_p) >= float(floor.group(1))


def test_several_pairs_state_the_holm_level_of_the_seeds_needed():
    runs = [_run(f"{o}{i}", o, i, [(C, base + i / 100, 1.0)])
            for o, base in (("hho", 0.90), ("tpe", 0.95), ("random", 0.80)) for i in range(3)]
    summary = build_summary(runs, storage="sqlite:///x.db", target=None, problems=[], command=None)
    assert [t["seeds_alpha"] for t in summary["tests"]] == pytest.approx([0.05 / 3] * 3)
    assert all(t["seeds_needed"] == seeds_needed(1.0, alpha=0.05 / 3) for t in summary["tests"])
    assert seeds_needed(1.0, alpha=0.05 / 3) > seeds_needed(1.0)
    assert f"about {seeds_needed(1.0, alpha=0.05 / 3)} seeds per optimizer would detect it with 80% power at " \
           "alpha = 0.0167 (0.05 / 3 pairs, the first step of Holm's correction)" in summary["verdict"]


def test_a_seed_without_a_complete_trial_counts_as_the_worst_value():
    runs = [_run("a0", "hho", 0, [(C, 0.95, 1.0)]), _run("a1", "hho", 1, [(F, None, 1.0), (F, None, 1.0)]),
            _run("a2", "hho", 2, [(C, 0.96, 1.0)])]
    runs += [_run(f"b{i}", "tpe", i, [(C, v, 1.0)]) for i, v in enumerate([0.90, 0.91, 0.92])]
    summary = build_summary(runs, storage="sqlite:///x.db", target=None, problems=[], command=None)
    test = summary["tests"][0]
    assert (test["n_first"], test["n_second"]) == (3, 3)
    assert test["p_value"] == pytest.approx(brute_force_p([0.95, 0.0, 0.96], [0.90, 0.91, 0.92]))
    hho = summary["optimizers"]["hho"]
    assert hho["best_values"] == [0.95, 0.0, 0.96] and hho["no_complete_trial"] == [1]
    assert (hho["best"]["n"], hho["best"]["min"], hho["best"]["median"]) == (3, 0.0, 0.95)
    assert summary["optimizers"]["tpe"]["no_complete_trial"] == []
    sentence = ("hho seed 1 had no complete trial and is counted with the worst value 0.0 "
                "in the test and the statistics.")
    assert sentence in summary["verdict"] and sentence in render_markdown(summary)


def _differing(same, **fields):
    a = _run("a", "hho", 0, [(C, 0.5, 1.0)], **same)
    b = _run("b", "tpe", 0, [(C, 0.5, 1.0)], **{**same, **fields})
    return [a, b]


@pytest.mark.parametrize(("same", "field", "value", "problem"), [
    ({"pruner": "median"}, "pruner", "none", "pruner: a has 'median', b has 'none'"),
    ({"max_failures": 3}, "max_failures", 10, "max_failures: a has 3, b has 10"),
])
def test_studies_differing_in_pruner_or_max_failures_do_not_compare(same, field, value, problem):
    runs = _differing(same, **{field: value})
    assert comparability_problems(runs) == [problem]
    with pytest.raises(ConfigError, match=f"these studies do not compare: {re.escape(problem)}"):
        check_comparable(runs, force=False)
    assert check_comparable(runs, force=True) == [problem]
    assert comparability_problems(_differing(same)) == []


def test_default_target_is_a_fraction_of_the_best_seen():
    summary = _separated([0.5, 0.6], [0.7, 0.8])
    assert summary["target"]["value"] == pytest.approx(0.99 * 0.8)
    assert summary["best_overall"]["study"] == "b1" and summary["best_overall"]["value"] == 0.8


def test_comparability_problems_name_the_field_and_the_short_study():
    a = _run("a", "hho", 0, [(C, 0.5, 1.0), (C, 0.6, 1.0)])
    b = _run("b", "tpe", 0, [(C, 0.5, 1.0), (C, 0.6, 1.0)], train={"epochs": 3, "batch_size": 128})
    assert comparability_problems([a, b]) == [
        "train: a has {'epochs': 1, 'batch_size': 128}, b has {'epochs': 3, 'batch_size': 128}"]
    short = StudyRun(name="c", record=a.record, trials=a.trials[:1], cache_hits=0, finished=False)
    assert comparability_problems([a, short]) == ["c has not spent its budget yet (1 finished trials)"]


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
    assert test["p_value"] == pytest.approx(brute_force_p(best["hho"], best["tpe"]))
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
    assert "these studies do not compare: trial cap: compare-hho-seed0 has 3, other has 2" in err
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
    assert (config["study"], config["trial"], config["validation_accuracy"]) == (
        best["study"], best["trial"], best["value"])
    assert config["params"] == best["params"]


def test_the_same_data_given_by_two_paths_compares_and_other_data_does_not():
    data = {"source": "idx", "sha256": "a" * 64, "train": 9, "val": 1, "test": 5}
    assert comparability_problems(_differing({"data": {**data, "given": "mnist"}},
                                             data={**data, "given": "/elsewhere/mnist"})) == []
    problems = comparability_problems(_differing({"data": {**data, "given": "mnist"}},
                                                 data={**data, "sha256": "b" * 64, "given": "mnist"}))
    assert [p.split(":")[0] for p in problems] == ["data"] and "given" not in problems[0]


def test_a_study_is_found_unfinished_until_it_spent_its_budget(db_url):
    study = optuna.create_study(study_name="u", storage=db_url, direction="maximize")
    StudyRecord(optimizer="tpe", optimizer_settings={}, seed=0, budget=2, space={}, data={},
                train={"epochs": 1, "batch_size": 128, "rungs": [1]}).write(study)
    store = open_storage(db_url, must_exist=True)
    for value, finished in ((0.5, False), (0.6, True)):
        study.add_trial(optuna.trial.create_trial(value=value, params={}, distributions={}))
        [run] = collect_runs(storage=store, names=["u"])
        assert run.finished is finished


def test_the_report_of_an_epoch_budget_comparison_states_its_limits_and_compute():
    train = {"epochs": 3, "batch_size": 128, "rungs": [1, 3]}
    runs = [_run(f"c-{opt}-seed{seed}", opt, seed, [(C, 0.5 + seed / 10, 1.0), (C, 0.6, 2.0)], train=train,
                 epoch_budget=30, reduction_factor=3) for opt in ("hho", "tpe") for seed in range(2)]
    # no --trials: the record holds MAX_TRIALS, which is no cap
    runs = [dataclasses.replace(r, record=dataclasses.replace(r.record, budget=MAX_TRIALS)) for r in runs]
    text = render_markdown(build_summary(runs, storage="sqlite:///x.db", target=None, problems=[], command=None))
    assert "- Limits per study: 30 training epochs; training: epochs 3, batch_size 128, rungs [1, 3], " \
           "reduction factor 3;" in text
    assert str(MAX_TRIALS) not in text
    # per study: no epochs recorded by these trials, 2 configurations, none at the top rung
    assert "| c-hho-seed1 | hho | 1 | 0.6000 | 0 | 2 | 0 |" in text
