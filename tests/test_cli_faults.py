"""Fault injection through the CLI: signals, kills, concurrent workers, corrupt files.

Each test is one guarantee of docs/reliability.md; they start real processes and train
tiny LSTMs, so they are marked slow (still part of the default run).
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import sigint_as_in_a_terminal, tiny_space_file, trial_states, wait_for, write_mnist_dir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
# Seconds a signalled run may take to exit (a batch to finish, the trial to be stored).
EXIT_WITHIN_S = 20


def _cmd(tmp_path, db, *extra):
    return [sys.executable, str(ROOT / "run_search.py"), "launch", "--study", "k", "--storage", f"sqlite:///{db}",
            "--data", "mnist-5k", "--space", str(tiny_space_file(tmp_path)), "--seed", "0", "--no-progress", *extra]


def _reported_an_epoch(db: Path) -> bool:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM trial_intermediate_values").fetchone()[0] > 0
    except sqlite3.OperationalError:
        return False


def _running_tagged(db: Path) -> bool:
    """Whether a RUNNING trial has recorded its worker process."""
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            query = ("SELECT COUNT(*) FROM trials t JOIN trial_user_attributes a ON a.trial_id = t.trial_id "
                     "WHERE t.state = 'RUNNING' AND a.key = 'worker'")
            return conn.execute(query).fetchone()[0] > 0
    except sqlite3.OperationalError:
        return False


def _integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


# One signal, sent either as soon as the trial has recorded its worker (the model is being
# built or its graph traced, where TensorFlow can swallow the KeyboardInterrupt: the
# objective then stops at the next batch end) or inside fit, after an epoch was reported.
@pytest.mark.parametrize("moment", ["at-start", "in-fit"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_fails_the_running_trial_exits_130_and_resume_completes(tmp_path, signum, moment):
    db = tmp_path / "s.db"
    cmd = _cmd(tmp_path, db, "--optimizer", "tpe", "--trials", "3", "--rungs", "15")
    ready = _running_tagged if moment == "at-start" else _reported_an_epoch
    with sigint_as_in_a_terminal():  # a suite started with SIGINT ignored must not pass that on
        proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: trial_states(db) == ["RUNNING"] and ready(db), timeout=120, interval=0.05), \
            trial_states(db)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=EXIT_WITHIN_S)  # raises TimeoutExpired if it does not exit in time
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert err.rstrip().endswith("interrupted: the running trial is marked FAIL; continue with the same command "
                                 "and --resume")
    assert "Traceback" not in err
    assert trial_states(db) == ["FAIL"]
    done = subprocess.run(cmd + ["--resume", "--epochs", "15"], env=ENV, capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    assert trial_states(db) == ["FAIL", "COMPLETE", "COMPLETE"]


@pytest.mark.parametrize("optimizer", ["tpe", "hho"])
def test_sigkill_twice_then_resume_ends_with_the_exact_budget(tmp_path, optimizer):
    db = tmp_path / "k.db"
    cmd = _cmd(tmp_path, db, "--optimizer", optimizer, "--trials", "7", "--rungs", "2")
    for kill_after in (1, 3):
        proc = subprocess.Popen(cmd + (["--resume"] if db.exists() else []), env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # Killed as soon as a trial of this process exists: it names its worker from its creation on.
            def running(kill_after: int = kill_after, pid: int = proc.pid) -> bool:
                return (trial_states(db).count("COMPLETE") >= kill_after
                        and pid in _worker_pids(db, running_only=True))

            assert wait_for(running, timeout=240, interval=0.05), trial_states(db)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert proc.pid in _worker_pids(db, running_only=True)
    done = subprocess.run(cmd + ["--resume"], env=ENV, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Marked 1 trial(s) left RUNNING by dead processes as FAIL" in done.stderr
    states = trial_states(db)
    assert len(states) == 7 and "RUNNING" not in states and states.count("FAIL") == 2
    assert _integrity(db) == "ok"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _worker_pids(db: Path, *, running_only: bool = False) -> list[int]:
    """The pid of the worker of every trial (of every RUNNING trial), by trial number."""
    query = ("SELECT a.value_json FROM trials t JOIN trial_user_attributes a ON a.trial_id = t.trial_id "
             "WHERE a.key = 'worker'" + (" AND t.state = 'RUNNING'" if running_only else "") + " ORDER BY t.number")
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return [json.loads(value)["pid"] for (value,) in conn.execute(query)]
    except sqlite3.OperationalError:
        return []


def _two_in_fit(db: Path) -> list[int] | None:
    """The worker pids of the two RUNNING trials once one has reported an epoch, else None."""
    running = _worker_pids(db, running_only=True)
    return running if len(running) == 2 and _reported_an_epoch(db) else None


# HHO with --jobs: the leader runs HHO and hands the population to worker processes.
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_hho_jobs_leader_killed_leaves_no_running_trial_and_resume_completes(tmp_path, signum):
    db = tmp_path / "h.db"
    cmd = _cmd(tmp_path, db, "--optimizer", "hho", "--jobs", "2", "--trials", "6", "--rungs", "12",
               "--pruner", "none")
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        training = wait_for(lambda: _two_in_fit(db), timeout=180, interval=0.1)
        assert training, trial_states(db)
        assert len(set(training)) == 2 and proc.pid not in training, "two worker processes train, not the leader"
        proc.send_signal(signum)
        if signum == signal.SIGTERM:
            _, err = proc.communicate(timeout=EXIT_WITHIN_S)
        else:  # its workers still hold its output pipes until they stop
            proc.wait(timeout=EXIT_WITHIN_S)
    finally:
        proc.kill()
    if signum == signal.SIGTERM:  # the workers' trials are stored FAIL before the leader exits
        assert proc.returncode == 130, err[-2000:]
        assert "Traceback" not in err
        assert trial_states(db).count("FAIL") == 2 and "RUNNING" not in trial_states(db)
    # SIGKILL: nobody can stop the workers; they finish their trials, see their parent gone and exit.
    assert wait_for(lambda: "RUNNING" not in trial_states(db), timeout=180), trial_states(db)
    assert wait_for(lambda: not any(_alive(pid) for pid in set(_worker_pids(db))), timeout=30)
    done = subprocess.run(cmd + ["--resume"], env=ENV, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    states = trial_states(db)
    assert len(states) == 6 and "RUNNING" not in states, states
    assert _integrity(db) == "ok"


def test_concurrent_resumes_share_the_budget_exactly(tmp_path):
    db = tmp_path / "c.db"
    cmd = _cmd(tmp_path, db, "--optimizer", "tpe", "--epochs", "1")
    first = subprocess.run(cmd + ["--trials", "1"], env=ENV, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    procs = [subprocess.Popen(cmd + ["--trials", "7", "--resume"], env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=400) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    assert trial_states(db) == ["COMPLETE"] * 7
    first_pid, *resumed_pids = _worker_pids(db)  # each runs its trials in its own process (no --jobs)
    assert first_pid not in resumed_pids and set(resumed_pids) <= {p.pid for p in procs}, resumed_pids
    assert _integrity(db) == "ok"


def _run_cli(*args, **kwargs):
    return subprocess.run([sys.executable, str(ROOT / "run_search.py"), *args], env={**ENV, **kwargs},
                          capture_output=True, text=True, timeout=120)


def test_corrupt_sqlite_file_exits_2_and_is_left_as_it_was(tmp_path):
    db = tmp_path / "bad.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    before = db.read_bytes()
    result = _run_cli("list", "--storage", f"sqlite:///{db}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot open storage" in result.stderr
    assert db.read_bytes() == before


def test_truncated_idx_file_exits_2_naming_the_file(tmp_path):
    data = tmp_path / "mnist"
    data.mkdir()
    write_mnist_dir(data)
    images = data / "train-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:5000]))
    db = tmp_path / "t.db"
    result = _run_cli("launch", "--study", "t", "--trials", "2", "--data", str(data), "--storage", f"sqlite:///{db}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "train-images-idx3-ubyte.gz" in result.stderr
    assert not db.exists()


def test_a_password_in_the_storage_url_never_shows(tmp_path):
    url = "postgresql+psycopg2://tuner:s3cretPass@127.0.0.1:1/studies"
    for args, env in ((["list", "--storage", url], {}), (["list"], {"LSTM_TUNER_STORAGE": url}),
                      (["launch", "--study", "x", "--trials", "1", "--data", "mnist-5k", "--storage", url], {})):
        result = _run_cli(*args, **env)
        assert result.returncode == 2, result.stderr[-2000:]
        assert "s3cretPass" not in result.stderr + result.stdout
        assert "***" in result.stderr


def test_a_study_is_readable_by_optunas_own_cli(tmp_path):
    db = tmp_path / "o.db"
    made = subprocess.run(_cmd(tmp_path, db, "--optimizer", "hho", "--trials", "2", "--epochs", "1"), env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    optuna_cli = Path(sys.executable).parent / "optuna"
    listed = subprocess.run([str(optuna_cli), "trials", "--study-name", "k", "--storage", f"sqlite:///{db}",
                             "-f", "json"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr[-2000:]
    rows = json.loads(listed.stdout)
    assert [row["state"] for row in rows] == ["COMPLETE", "COMPLETE"]
    assert all(set(row["params"]) == {"units", "learning_rate"} for row in rows)
    assert all(set(row["user_attrs"]) >= {"worker", "train_seconds", "epochs_run"} for row in rows)
