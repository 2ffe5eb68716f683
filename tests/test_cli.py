from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import run_search
from tests.helpers import tiny_space_file

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


def test_help_names_every_command(capsys):
    with pytest.raises(SystemExit):
        run_search.main(["--help"])
    out = capsys.readouterr().out
    assert all(cmd in out for cmd in ("launch", "list", "export"))


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


BAD_EXPORTS = [
    (["--study", "done", "--model-out", "m.keras"], "--model-out only apply with --retrain"),
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

        listing = _wait_for(studies, timeout=60)
        assert listing is not None, "the dashboard did not answer within 60 s"
        assert [s["study_name"] for s in listing["study_summaries"]] == ["done"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return None


def _states(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return [row[0] for row in conn.execute("SELECT state FROM trials ORDER BY number")]
    except sqlite3.OperationalError:
        return []


@pytest.mark.slow
def test_sigkill_during_an_hho_trial_then_resume(tmp_path):
    db = tmp_path / "k.db"
    cmd = [sys.executable, str(ROOT / "run_search.py"), "launch", "--optimizer", "hho", "--trials", "8",
           "--pop-size", "5", "--epochs", "2", "--study", "k", "--storage", f"sqlite:///{db}", "--data", "mnist-5k",
           "--space", str(tiny_space_file(tmp_path)), "--seed", "0", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        running_after_two = lambda: _states(db).count("COMPLETE") >= 2 and _states(db)[-1] == "RUNNING"  # noqa: E731
        assert _wait_for(running_after_two, timeout=240), _states(db)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _states(db)[-1] == "RUNNING"
    done = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    states = _states(db)
    assert "RUNNING" not in states
    assert states.count("FAIL") <= 1 and len(states) == 8
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
