"""The budget gate: one slot per trial, the last slot to one worker only, on any number of hosts."""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
import threading
import time
import uuid
from pathlib import Path
from threading import BrokenBarrierError

import optuna
import pytest
from optuna.trial import TrialState

from search.schedulers import Kind
from studies.store.budget import StudyBudget, lock_of
from studies.store.storage import open_storage
from tests.studies.store.hosts import DEADLINE_S, SecretUrl, become_host, finish, host_processes

WORKERS = 4  # as four hosts
BUDGET = 12
RUNS = 3
# A worker holds its trial's RUNNING state this long before telling it, so that the others contend meanwhile.
HOLD_S = 0.005
# How long a worker that claimed a slot waits for the others to claim too before it creates its trial.
MEET_TIMEOUT_S = 2.0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request, tmp_path):
    """A SQLite file, and the PostgreSQL server's database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    return SecretUrl(request.getfixturevalue("postgres_url"))


def _study(db_url, finished):
    study = optuna.create_study(study_name="g", storage=db_url, direction="maximize")
    for _ in range(finished):
        study.add_trial(optuna.trial.create_trial(value=0.5))
    return study


class BudgetGate:
    """A worker that creates its own trials (TPE), claiming each from the study's budget."""

    def __init__(self, *, study, budget, url=None, lock=None):
        self.budget = StudyBudget(study=study, budget=budget, lock=lock or lock_of(study))

    def claim(self):
        return self.budget.admit(may_create=True) in (Kind.NEW, Kind.QUEUED)

    def release(self):
        self.budget.release()


def test_claim_admits_below_the_budget_and_refuses_at_it(db_url):
    study = _study(db_url, finished=2)
    gate = BudgetGate(study=study, budget=3, url=db_url)
    assert gate.claim()
    gate.release()
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    assert not gate.claim()


def test_a_waiting_trial_holds_a_slot(db_url):
    study = _study(db_url, finished=2)
    study.enqueue_trial({})
    assert study.get_trials(states=(TrialState.WAITING,))
    budget = StudyBudget(study=study, budget=3, lock=lock_of(study))
    assert budget.admit(may_create=True) is Kind.QUEUED  # take the queued trial, create none
    budget.release()
    with budget.held() as room:
        assert room == 0


def test_the_last_slot_goes_to_one_worker_only(db_url):
    study = _study(db_url, finished=2)
    first = BudgetGate(study=study, budget=3, url=db_url)
    second = BudgetGate(study=optuna.load_study(study_name="g", storage=db_url), budget=3, url=db_url)
    assert first.claim()
    answer = []
    waiter = threading.Thread(target=lambda: answer.append(second.claim()))
    waiter.start()
    time.sleep(0.5)
    assert answer == [], "the second worker got past the lock while the first held it"
    study.ask()  # the first worker's trial is now stored as RUNNING ...
    first.release()  # ... and the objective releases the gate
    waiter.join(timeout=10)
    assert answer == [False]


class HostLocalLock:
    """The lock before issue #13, for the control: a ``flock`` on a file in this process's
    temporary directory, named after the storage URL and the study (one per host)."""

    def __init__(self, *, url: str, study_name: str) -> None:
        digest = hashlib.sha256(f"{url}\0{study_name}".encode()).hexdigest()[:24]
        self.path = Path(tempfile.gettempdir()) / "lstm-tuner-locks" / f"{digest}.lock"
        self._handle = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("ab")
        fcntl.flock(self._handle, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _worker_gate(url, study_name, tmpdir, *, host_local):
    """This worker's study and gate, as on a host of its own (``host_local``: with the old lock)."""
    become_host(tmpdir)
    study = optuna.load_study(study_name=study_name, storage=open_storage(url, must_exist=True),
                              sampler=optuna.samplers.RandomSampler())
    lock = HostLocalLock(url=url, study_name=study_name) if host_local else None
    return study, BudgetGate(study=study, budget=BUDGET, lock=lock)


def _claim_until_refused(url, study_name, tmpdir, start):
    """A worker's loop: claim a slot, store a trial RUNNING, let the gate go, finish the trial."""
    study, gate = _worker_gate(url, study_name, tmpdir, host_local=False)
    start.wait(timeout=DEADLINE_S)
    while gate.claim():
        trial = study.ask()
        gate.release()
        time.sleep(HOLD_S)
        study.tell(trial, 1.0)


def _claim_then_meet(url, study_name, tmpdir, host_local, start, meet, answers):
    """A worker that claims a slot, then waits for the others to claim before it creates its trial.

    With a lock per host, every worker gets past the lock, all meet, and all create a trial.
    With the study's lock, the first holder waits at ``meet`` alone (the others wait for the
    lock) until the meeting times out; it creates its trial and the others are refused.
    """
    study, gate = _worker_gate(url, study_name, tmpdir, host_local=host_local)
    start.wait(timeout=DEADLINE_S)
    admitted = gate.claim()
    try:
        meet.wait()
        met = True
    except BrokenBarrierError:
        met = False
    if admitted:
        trial = study.ask()
        gate.release()
        study.tell(trial, 1.0)
    answers.put((admitted, met))


def _new_study(url, *, finished=0):
    study = optuna.create_study(study_name=f"gate-{uuid.uuid4().hex[:12]}", storage=url)
    for _ in range(finished):
        study.add_trial(optuna.trial.create_trial(value=1.0))
    return study


def _hosts(tmp_path, run):
    """A temporary directory for each worker of ``run``."""
    dirs = [tmp_path / f"run{run}-host{i}" for i in range(WORKERS)]
    for path in dirs:
        path.mkdir()
    return [str(path) for path in dirs]


def test_workers_on_four_hosts_end_with_exactly_the_budget(storage_url, tmp_path):
    context = host_processes()
    for run in range(RUNS):
        study = _new_study(storage_url)
        start = context.Event()
        workers = [context.Process(target=_claim_until_refused, args=(storage_url, study.study_name, tmpdir, start))
                   for tmpdir in _hosts(tmp_path, run)]
        for worker in workers:
            worker.start()
        start.set()  # all started: they contend from the first claim
        assert finish(workers) == [0] * WORKERS
        states = [trial.state for trial in study.get_trials(deepcopy=False)]
        assert states == [TrialState.COMPLETE] * BUDGET, f"run {run}: {len(states)} trials for a budget of {BUDGET}"


def _race_for_the_last_slot(url, tmp_path, *, host_local):
    """Four workers claim the one slot left, each waiting for the others before creating its trial.

    Returns the number of trials the study ends with, and each worker's (admitted, met).
    """
    context = host_processes()
    study = _new_study(url, finished=BUDGET - 1)
    start, meet, answers = context.Event(), context.Barrier(WORKERS, timeout=MEET_TIMEOUT_S), context.Queue()
    workers = [context.Process(target=_claim_then_meet,
                               args=(url, study.study_name, tmpdir, host_local, start, meet, answers))
               for tmpdir in _hosts(tmp_path, run=0)]
    for worker in workers:
        worker.start()
    start.set()
    assert finish(workers) == [0] * WORKERS
    outcomes = sorted(answers.get(timeout=DEADLINE_S) for _ in workers)
    return len(study.get_trials(deepcopy=False)), outcomes


def test_control_a_lock_per_host_lets_every_host_take_the_last_slot(storage_url, tmp_path):
    trials, outcomes = _race_for_the_last_slot(storage_url, tmp_path, host_local=True)
    assert outcomes == [(True, True)] * WORKERS  # all past their own lock at once
    assert trials == BUDGET - 1 + WORKERS > BUDGET


def test_the_study_lock_gives_the_last_slot_to_one_host(storage_url, tmp_path):
    trials, outcomes = _race_for_the_last_slot(storage_url, tmp_path, host_local=False)
    # The holder waited alone at the meeting (the others were held at the lock); then they were refused.
    assert outcomes == [(False, False)] * (WORKERS - 1) + [(True, False)]
    assert trials == BUDGET


def test_the_lock_is_released_once_the_trial_is_stored_running_before_the_sampler_is_called(tmp_path):
    """Admissions wait only for each other's database writes, not for what follows them."""
    from search.space import DEFAULT_SPACE
    from studies.running.loop import TrialLoop

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(study_name="g", storage=open_storage(url, must_exist=False), direction="maximize")
    budget = StudyBudget(study=study, budget=2, lock=lock_of(study))
    lock_file = budget._lock.path
    free_at_start = []

    class Probe(optuna.samplers.RandomSampler):
        def before_trial(self, study, trial):  # the first thing Optuna does with a trial it created or took
            with lock_file.open("ab") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(handle, fcntl.LOCK_UN)
                    free_at_start.append(True)
                except BlockingIOError:
                    free_at_start.append(False)
            return super().before_trial(study, trial)

    def objective(trial):
        DEFAULT_SPACE.suggest(trial)
        return 0.5

    objective.space, objective.worst_value = DEFAULT_SPACE, 0.0
    loop = TrialLoop(budget=budget, sampler=Probe(seed=0), may_create=True, objective=objective)
    assert [loop.run_one(), loop.run_one(), loop.run_one()] == [Kind.NEW, Kind.NEW, Kind.DONE]
    assert free_at_start and all(free_at_start)


def test_a_promotion_runs_before_proposals_a_leader_queued_earlier(tmp_path):
    from search.schedulers import CHECKPOINT_ATTR, Rungs, Segment, SuccessiveHalving
    from studies.running.loop import TrialLoop
    from tests.helpers import SegmentedObjective

    rungs = Rungs((1, 3))
    study = optuna.create_study(study_name="g", storage=open_storage(f"sqlite:///{tmp_path / 's.db'}",
                                                                      must_exist=False), direction="maximize")
    objective = SegmentedObjective(rungs)
    for value in (0.2, 0.9, 0.5):  # three screened configurations: the best third (one) goes on
        study.enqueue_trial({"num_layers": 1, "units": 16 + int(100 * value), "learning_rate": 1e-3,
                             "decay_steps": 100})
        study.optimize(lambda trial, v=value: objective(trial) * 0 + v, n_trials=1)
    for units in (30, 40):  # a leader's queued proposals
        study.enqueue_trial({"num_layers": 1, "units": units, "learning_rate": 1e-3, "decay_steps": 100})
    budget = StudyBudget(study=study, budget=10, lock=lock_of(study),
                         scheduler=SuccessiveHalving(rungs=rungs, reduction_factor=3))
    loop = TrialLoop(budget=budget, sampler=optuna.samplers.RandomSampler(seed=0), may_create=True,
                     objective=objective)
    assert loop.run_one() is Kind.PROMOTE
    ran = [t for t in study.get_trials() if t.state == TrialState.COMPLETE][-1]
    segment = Segment.of(ran, rungs)
    assert (segment.rung, segment.parent, segment.resume_from) == (1, 1, study.trials[1].user_attrs[CHECKPOINT_ATTR])
    assert [t.system_attrs["fixed_params"]["units"] for t in study.get_trials(states=(TrialState.WAITING,))] == [30, 40]
