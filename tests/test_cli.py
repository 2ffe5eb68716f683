from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

import run_search
from studies.config import STUDY_NAME_PATTERN
from studies.exit_codes import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from tests.helpers import tiny_space_file, wait_for

ROOT = Path(__file__).resolve().parents[1]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store holding one finished tiny study 'done', made through the CLI."""
    directory = tmp_path_factory.mktemp("store")
    url = f"sqlite:///{directory / 's.db'}"
    code = run_search.main(["launch", "--study", "done", "--trials", "2", "--epochs", "1", "--storage", url,
                            "--data", "mnist-5k", "--space", str(tiny_space_file(directory)), "--seed", "0",
                            "--no-progress"])
    assert code == 0
    return directory / "s.db", url


@pytest.mark.slow
def test_launch_list_export(store, tmp_path, capsys):
    db, url = store
    study = optuna.load_study(study_name="done", storage=url)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert run_search.main(["list", "--storage", url]) == 0
    assert "done   tpe        2/2" in capsys.readouterr().out
    out = tmp_path / "best.json"
    assert run_search.main(["export", "--study", "done", "--storage", url, "--out", str(out)]) == 0
    assert json.loads(out.read_text())["params"] == study.best_params


BAD_LAUNCHES = [
    (["--trials", "0"], "--trials must be a whole number in [1, 100000], but got 0"),
    (["--trials", "-3"], "--trials must be a whole number"),
    (["--epochs", "0"], "--epochs must be a whole number in [1, 1000], but got 0"),
    (["--optimizer", "hho", "--pop-size", "2"], "--pop-size must be a whole number in [5, 1000]"),
    (["--pop-size", "6"], "--pop-size does not apply to --optimizer tpe"),
    (["--data", "/no/such/dir"], "data source '/no/such/dir' does not exist"),
    (["--study", "../x"], "--study must be"),
    (["--study", "done"], "study 'done' already exists: add --resume"),
    (["--study", "done", "--resume", "--epochs", "3"], "--resume of study 'done' with different settings"),
    (["--seed", "-1"], "--seed must be a whole number"),
]


@pytest.mark.slow
@pytest.mark.parametrize("extra, message", BAD_LAUNCHES)
def test_bad_input_exits_2_and_leaves_the_store_unchanged(store, tmp_path, capsys, extra, message):
    db, url = store
    before = _digest(db)
    base = ["launch", "--study", "new", "--trials", "2", "--epochs", "1", "--storage", url, "--data", "mnist-5k",
            "--no-progress"]
    args = base + extra
    assert run_search.main(args) == 2
    assert message in capsys.readouterr().err
    assert _digest(db) == before


@pytest.mark.slow
def test_bad_space_file_exits_2(store, tmp_path, capsys):
    db, url = store
    before = _digest(db)
    space = tmp_path / "bad.toml"
    space.write_text('[dimensions.units]\ntype = "int"\nlow = 256\nhigh = 32\n')
    code = run_search.main(["launch", "--study", "n", "--trials", "2", "--storage", url, "--space", str(space)])
    assert code == 2
    assert "`low < high` must hold for 'units', but got low=256, high=32" in capsys.readouterr().err
    space.write_text('[dimensions.units]\ntype = "big"\nlow = 1\nhigh = 2\n')
    assert run_search.main(["launch", "--study", "n", "--trials", "2", "--storage", url, "--space", str(space)]) == 2
    assert "type 'big'; the accepted types are int, float, categorical" in capsys.readouterr().err
    assert _digest(db) == before


def test_export_of_missing_study_exits_2(store, capsys):
    db, url = store
    before = _digest(db)
    assert run_search.main(["export", "--study", "nope", "--storage", url]) == 2
    assert "no study 'nope'" in capsys.readouterr().err
    assert _digest(db) == before


def test_argparse_rejects_non_numbers_and_unknown_optimizers(capsys):
    for args in (["launch", "--study", "s", "--trials", "many"], ["launch", "--study", "s", "--optimizer", "cma"]):
        with pytest.raises(SystemExit) as exc:
            run_search.main(args)
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid int value: 'many'" in err and "invalid choice: 'cma'" in err


def test_not_a_database(tmp_path, capsys):
    fake = tmp_path / "notes.db"
    fake.write_text("hello")
    assert run_search.main(["list", "--storage", f"sqlite:///{fake}"]) == 2
    assert "is not a SQLite database" in capsys.readouterr().err
    assert fake.read_text() == "hello"


def test_help_states_the_exit_codes_the_cli_returns(capsys):
    with pytest.raises(SystemExit) as exc:
        run_search.main(["--help"])
    assert exc.value.code == EXIT_OK
    out = " ".join(capsys.readouterr().out.split())
    assert (f"Exit codes: {EXIT_OK} success, {EXIT_FAILURE} failure during the run, {EXIT_USAGE} bad input "
            f"(nothing written), {EXIT_INTERRUPTED} interrupted.") in out


@pytest.mark.slow
def test_export_retrain_writes_test_accuracy_and_a_model_that_predicts(store, tmp_path):
    import keras

    from models.data import load_mnist

    _, url = store
    out, model_file = tmp_path / "best.json", tmp_path / "best.keras"
    code = run_search.main(["export", "--study", "done", "--storage", url, "--retrain", "--model-out",
                            str(model_file), "--out", str(out)])
    assert code == 0
    config = json.loads(out.read_text())
    keys = list(config)
    assert keys.index("test_accuracy") == keys.index("validation_accuracy") + 1
    assert config["validation_accuracy"] == optuna.load_study(study_name="done", storage=url).best_value
    test = load_mnist("mnist-5k").test
    model = keras.models.load_model(model_file)
    assert model.predict(test.x[:5], verbose=0).shape == (5, 10)
    _, accuracy = model.evaluate(test.x, test.y, verbose=0)
    assert config["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert config["retrain"]["train_samples"] == 4000 and config["retrain"]["test_samples"] == len(test)
    # the schedule decays per epoch as tuned: 4000 samples make 4000/3600 as many batches as 3600
    tuned = config["params"].get("decay_steps", 1000)
    assert config["retrain"]["decay_steps"] == round(tuned * 4000 / 3600)
    schedule = model.optimizer._learning_rate
    assert schedule.get_config()["decay_steps"] == config["retrain"]["decay_steps"]


BAD_EXPORTS = [
    (["--study", "done", "--epochs", "3"], "--epochs only applies with --retrain"),
    (["--study", "done", "--data", "mnist-5k"], "--data only applies with --retrain or --model-out"),
    (["--study", "done", "--retrain", "--model-out", "m.h5"], "--model-out must end in .keras"),
    (["--study", "done", "--retrain", "--epochs", "0"], "--epochs must be a whole number in [1, 1000], but got 0"),
    (["--compare", "/no/such/dir"], "--compare '/no/such/dir': no usable summary.json"),
]


@pytest.mark.parametrize("extra, message", BAD_EXPORTS)
def test_bad_export_exits_2(store, capsys, extra, message):
    db, url = store
    before = _digest(db)
    assert run_search.main(["export", "--storage", url, *extra]) == 2
    assert message in capsys.readouterr().err
    assert _digest(db) == before


def test_export_refuses_to_write_through_a_symlink_or_onto_a_directory(store, tmp_path, capsys):
    db, url = store
    target = tmp_path / "elsewhere.json"
    target.write_text("keep")
    (tmp_path / "link.json").symlink_to(target)
    (tmp_path / "dir.json").mkdir()
    for name in ("link.json", "dir.json"):
        assert run_search.main(["export", "--study", "done", "--storage", url, "--out", str(tmp_path / name)]) == 2
        assert "exists and is not a regular file" in capsys.readouterr().err
    assert target.read_text() == "keep"


INVALID_NAMES = st.one_of(
    st.sampled_from(["", "../x", "a/b", "/etc/passwd", "..", ".hidden", "-x", "a b", "x" * 101]),
    st.text(min_size=1, max_size=20).filter(lambda s: not STUDY_NAME_PATTERN.fullmatch(s)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.one_of(st.none(), INVALID_NAMES),
    trials=st.one_of(st.integers(max_value=0), st.integers(min_value=100_001)),
    epochs=st.one_of(st.none(), st.integers(max_value=0), st.integers(min_value=1001)),
)
def test_hostile_launch_arguments_exit_2_and_change_nothing(store, capsys, name, trials, epochs):
    db, url = store
    before = _digest(db)
    args = ["launch", "--study", "ok" if name is None else name, "--trials", str(trials), "--storage", url,
            "--data", "mnist-5k"] + ([] if epochs is None else ["--epochs", str(epochs)])
    try:
        code = run_search.main(args)
    except SystemExit as exc:  # argparse: e.g. a name that looks like an option
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    broken = ["--trials"] + ([] if name is None else ["--study"]) + ([] if epochs is None else ["--epochs"])
    last = err.strip().splitlines()[-1]  # the error itself (argparse prints its usage, naming every option, first)
    assert any(flag in last for flag in broken), last
    assert _digest(db) == before


BAD_COMPARES = [
    (["--optimizers", "hho,cma", "--trials", "2", "--seeds", "2"], "unknown optimizer 'cma' in --optimizers"),
    (["--optimizers", "hho,hho", "--trials", "2", "--seeds", "2"], "--optimizers must name distinct optimizers"),
    (["--optimizers", "hho,tpe", "--trials", "2", "--seeds", "0"], "--seeds must be a whole number in [1, 1000]"),
    (["--optimizers", "hho,tpe", "--trials", "2"], "compare needs --seeds"),
    (["--optimizers", "hho,tpe", "--trials", "2", "--seeds", "2", "--target", "1.5"], "--target must be"),
    (["--optimizers", "hho,tpe", "--trials", "2", "--seeds", "2", "--data", "/nope"], "does not exist"),
    (["--studies", "done"], "--studies needs two or more distinct study names"),
    (["--studies", "done,ghost"], "no study 'ghost' in this storage"),
    (["--studies", "done,x", "--seeds", "2"], "--studies reports on existing studies; drop --seeds"),
]


@pytest.mark.parametrize("extra, message", BAD_COMPARES)
def test_bad_compare_exits_2_and_writes_nothing(store, tmp_path, capsys, extra, message):
    db, url = store
    before = _digest(db)
    assert run_search.main(["compare", "--storage", url, "--out", str(tmp_path / "r"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert _digest(db) == before and not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["tpe", "hho"])
def test_jobs_2_ends_with_exactly_the_budget(tmp_path, optimizer):
    db = tmp_path / "j.db"
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_search.py"), "launch", "--study", "j", "--optimizer", optimizer,
         "--jobs", "2", "--trials", "6", "--epochs", "1", "--data", "mnist-5k", "--space",
         str(tiny_space_file(tmp_path)), "--storage", f"sqlite:///{db}", "--seed", "0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="j", storage=f"sqlite:///{db}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    workers = {t.user_attrs["worker"]["pid"] for t in study.trials}
    assert len(workers) == 2, "both worker processes should have run trials"
    assert "study j: 6 trials finished (6 configurations, 6 training epochs)" in result.stdout
    if optimizer == "hho":  # one flock whose population is trained by both processes, not two flocks
        init = [t for t in study.trials if t.user_attrs["hho_phase"] == "init"]
        assert sorted(t.user_attrs["hho_hawk"] for t in init) == [0, 1, 2, 3, 4]
        assert len({t.user_attrs["worker"]["pid"] for t in init}) == 2


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["tpe", "hho"])
def test_worker_processes_are_replaced_every_k_trials(tmp_path, optimizer):
    db = tmp_path / "r.db"
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_search.py"), "launch", "--study", "r", "--trials", "5", "--recycle-every",
         "2", "--epochs", "1", "--data", "mnist-5k", "--space", str(tiny_space_file(tmp_path)), "--storage",
         f"sqlite:///{db}", "--optimizer", optimizer], cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="r", storage=f"sqlite:///{db}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
    pids = [t.user_attrs["worker"]["pid"] for t in study.trials]
    assert len(set(pids[:2])) == 1 and len(set(pids)) == 3, pids
    assert len({(t.params["units"], t.params["learning_rate"]) for t in study.trials}) == 5
    if optimizer == "hho":  # HHO lives on in the parent: one population across the replaced processes
        assert [t.user_attrs["hho_hawk"] for t in study.trials] == [0, 1, 2, 3, 4]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_dashboard_serves_the_studies_of_the_store(store):
    import urllib.request

    _, url = store
    port = _free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "run_search.py"), "dashboard", "--storage", url,
                                "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def studies():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as response:
                    return json.loads(response.read())
            except OSError:
                return None

        listing = wait_for(studies, timeout=60)
        assert listing is not None, "the dashboard did not answer within 60 s"
        assert [s["study_name"] for s in listing["study_summaries"]] == ["done"]
    finally:
        process.terminate()
        process.wait(timeout=30)
