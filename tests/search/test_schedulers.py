"""The scheduler's decisions on hand-made trials, and its budget on simulated studies."""

from __future__ import annotations

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from models.errors import ConfigError
from search.schedulers import CHECKPOINT_ATTR, EPOCHS_RUN_ATTR, Limits, Rungs, Segment, SuccessiveHalving, final_trial
from search.schedulers.halving import Kind

X = FloatDistribution(0.0, 1.0)
RUNGS = Rungs((1, 3, 9))


def _trial(number, value, *, rung=0, rungs=RUNGS, parent=None, root=None, state=TrialState.COMPLETE,
           x=None):
    segment = Segment(rung=rung, start=rungs.epochs[rung - 1] if rung else 0, end=rungs.epochs[rung],
                      parent=parent, root=root, resume_from="ck" if parent is not None else None)
    attrs = {**(segment.attrs() if rung else {}), CHECKPOINT_ATTR: f"ck{number}"}
    if state not in (TrialState.RUNNING, TrialState.WAITING):
        attrs[EPOCHS_RUN_ATTR] = segment.epochs
    trial = create_trial(state=state, value=value if state == TrialState.COMPLETE else None,
                         params={"x": number / 100 if x is None else x}, distributions={"x": X}, user_attrs=attrs)
    trial.number = number
    return trial


def test_rungs_are_checked_and_made_geometric():
    assert Rungs.geometric(top=27, first=1, factor=3).epochs == (1, 3, 9, 27)
    assert Rungs.geometric(top=20, first=1, factor=3).epochs == (1, 3, 9, 20)
    assert Rungs.geometric(top=1, first=1, factor=3).epochs == (1,)
    for bad in ((), (3, 1), (1, 1), (0, 2), (1.5,)):
        with pytest.raises(ConfigError, match="--rungs must be"):
            Rungs(bad)
    with pytest.raises(ConfigError, match="--reduction-factor"):
        SuccessiveHalving(rungs=Rungs((1, 3)), reduction_factor=1)


def test_the_top_share_of_a_rung_is_promoted_best_first_and_only_once():
    asha = SuccessiveHalving(rungs=Rungs((1, 3, 9)), reduction_factor=3)
    limits = Limits(trials=100)
    two = [_trial(0, 0.5), _trial(1, 0.9)]
    assert asha.decide(two, limits=limits, may_create=True).kind is Kind.NEW  # 2 // 3 = 0 promoted
    three = [*two, _trial(2, 0.7)]
    decision = asha.decide(three, limits=limits, may_create=True)
    assert decision.kind is Kind.PROMOTE and decision.parent.number == 1
    assert (decision.segment.rung, decision.segment.start, decision.segment.end) == (1, 1, 3)
    assert (decision.segment.parent, decision.segment.root, decision.segment.resume_from) == (1, 1, "ck1")
    promoted = [*three, _trial(3, 0.95, rung=1, parent=1, root=1, state=TrialState.RUNNING)]
    assert asha.decide(promoted, limits=limits, may_create=True).kind is Kind.NEW


def test_a_higher_rung_promotes_first():
    asha = SuccessiveHalving(rungs=Rungs((1, 3, 9)), reduction_factor=2)
    trials = [_trial(0, 0.5), _trial(1, 0.9), _trial(2, 0.8), _trial(3, 0.7),
              _trial(4, 0.91, rung=1, parent=1, root=1), _trial(5, 0.85, rung=1, parent=2, root=2)]
    decision = asha.decide(trials, limits=Limits(trials=100), may_create=True)
    assert decision.kind is Kind.PROMOTE and decision.parent.number == 4 and decision.segment.rung == 2


def test_a_promotion_failed_by_the_run_is_tried_again_once():
    asha = SuccessiveHalving(rungs=Rungs((1, 3)), reduction_factor=3)
    base = [_trial(0, 0.5), _trial(1, 0.9), _trial(2, 0.7)]
    died = _trial(3, None, rung=1, parent=1, root=1, state=TrialState.FAIL)
    died.user_attrs["fail_kind"] = "worker_died"
    assert asha.decide([*base, died], limits=Limits(trials=3), may_create=True).kind is Kind.PROMOTE
    again = _trial(4, None, rung=1, parent=1, root=1, state=TrialState.FAIL)
    again.user_attrs["fail_kind"] = "worker_died"
    decision = asha.decide([*base, died, again], limits=Limits(trials=3), may_create=True)
    # configuration 1 is given up; with no model at the top rung yet, the next best goes on
    assert decision.kind is Kind.PROMOTE and decision.parent.number == 2


def test_once_nothing_new_may_start_the_best_goes_on_to_the_top_rung():
    asha = SuccessiveHalving(rungs=Rungs((1, 3, 9)), reduction_factor=3)
    trials = [_trial(0, 0.5), _trial(1, 0.9)]  # 2 // 3: the ranking rule promotes nobody
    decision = asha.decide(trials, limits=Limits(trials=2), may_create=True)
    assert decision.kind is Kind.PROMOTE and decision.parent.number == 1
    running = [*trials, _trial(2, None, rung=1, parent=1, root=1, state=TrialState.RUNNING)]
    assert asha.decide(running, limits=Limits(trials=2), may_create=True).kind is Kind.IDLE
    at_top = [*trials, _trial(2, 0.95, rung=1, parent=1, root=1), _trial(3, 0.97, rung=2, parent=2, root=1)]
    assert asha.decide(at_top, limits=Limits(trials=2), may_create=True).kind is Kind.DONE
    assert final_trial(at_top).number == 3


def test_the_final_model_is_the_best_of_the_highest_rung_reached():
    trials = [_trial(0, 0.99), _trial(1, 0.9), _trial(2, 0.91, rung=1, parent=1, root=1), _trial(3, float("inf"))]
    assert final_trial(trials).number == 2
    assert final_trial([]) is None


def test_an_epoch_budget_too_small_for_one_final_model_is_refused():
    with pytest.raises(ConfigError, match="--epoch-budget 8 cannot train one model to the top rung of 9"):
        SuccessiveHalving(rungs=Rungs((1, 3, 9))).check_limits(Limits(trials=5, epochs=8))


def _simulate(scheduler, limits, values, *, kill_every=0):
    """Run a study sequentially on the scheduler's decisions; a configuration's value at
    each rung comes from ``values`` (its rank at rung 0 is kept at every rung)."""
    study = optuna.create_study(direction="maximize")
    configs = 0
    while True:
        trials = study.get_trials(deepcopy=False)
        decision = scheduler.decide(trials, limits=limits, may_create=True)
        if decision.kind is Kind.DONE:
            return study.get_trials(deepcopy=False)
        assert decision.kind in (Kind.NEW, Kind.PROMOTE)
        if decision.kind is Kind.NEW:
            segment, x = Segment.first(scheduler.rungs), values[configs % len(values)]
            configs += 1
        else:
            segment, x = decision.segment, decision.parent.params["x"]
        number = len(trials)
        fails = kill_every and number % kill_every == kill_every - 1
        attrs = {**segment.attrs(), CHECKPOINT_ATTR: f"ck{number}",
                 EPOCHS_RUN_ATTR: 0 if fails else segment.epochs}
        if fails:
            attrs["fail_kind"] = "worker_died"
        study.add_trial(create_trial(state=TrialState.FAIL if fails else TrialState.COMPLETE,
                                     value=None if fails else x + segment.end, params={"x": x},
                                     distributions={"x": X}, user_attrs=attrs))


@settings(max_examples=60, deadline=None)
@given(rungs=st.sampled_from([(1,), (1, 3), (1, 3, 9), (2, 4, 8, 16), (1, 27)]),
       factor=st.integers(2, 5), trials=st.integers(1, 30), epochs=st.integers(1, 200),
       values=st.lists(st.floats(0, 1), min_size=1, max_size=30), kill_every=st.sampled_from([0, 3, 7]))
def test_the_epoch_and_trial_budgets_are_never_exceeded_and_end_with_a_final_model(
        rungs, factor, trials, epochs, values, kill_every):
    scheduler = SuccessiveHalving(rungs=Rungs(rungs), reduction_factor=factor)
    epochs = max(epochs, rungs[-1])
    done = _simulate(scheduler, Limits(trials=trials, epochs=epochs), values, kill_every=kill_every)
    spent = sum(t.user_attrs[EPOCHS_RUN_ATTR] for t in done)
    assert spent <= epochs
    assert sum(t.user_attrs["rung"] == 0 for t in done) <= trials
    if not kill_every:
        final = final_trial(done)
        assert final.user_attrs["end_epoch"] == rungs[-1]  # a model trained to the top rung
        # it stopped screening only when no configuration was left or a new one could not reach the top rung,
        configs = sum(t.user_attrs["rung"] == 0 for t in done)
        assert configs == trials or spent + rungs[-1] > epochs
        # and then took on every configuration that could still reach it
        if configs < trials:
            promoted = {(t.user_attrs.get("screened_in", t.number), t.user_attrs["rung"]) for t in done}
            for t in done:
                rung, root = t.user_attrs["rung"], t.user_attrs.get("screened_in", t.number)
                if rung < len(rungs) - 1 and (root, rung + 1) not in promoted:
                    assert spent + rungs[-1] - t.user_attrs["end_epoch"] > epochs


def test_with_a_time_limit_only_segments_expected_to_end_in_time_start():
    asha = SuccessiveHalving(rungs=Rungs((1, 3)), reduction_factor=3)
    trials = [_trial(0, 0.5), _trial(1, 0.9), _trial(2, 0.7)]
    for trial, seconds in zip(trials, (1.0, 4.0, 2.0), strict=True):
        trial.user_attrs["train_seconds"] = seconds  # trial 1 took 4 s for its epoch
    promote = asha.decide(trials, limits=Limits(trials=100, seconds=8.5), may_create=True)
    assert promote.kind is Kind.PROMOTE and promote.parent.number == 1  # 2 epochs x 4 s fit in 8.5 s
    screen = asha.decide(trials, limits=Limits(trials=100, seconds=7.0), may_create=True)
    # the promotion would not end in time; a 2 s screening and 2 more epochs at 2 s for its top rung would
    assert screen.kind is Kind.NEW
    last = asha.decide(trials, limits=Limits(trials=100, seconds=5.0), may_create=True)
    assert last.kind is Kind.PROMOTE and last.parent.number == 2  # no screening fits: the best that fits goes on
    assert asha.decide(trials, limits=Limits(trials=100, seconds=1.5), may_create=True).kind is Kind.DONE


def test_a_time_limit_keeps_the_time_to_train_the_furthest_configuration_to_the_top_rung():
    asha = SuccessiveHalving(rungs=Rungs((1, 3, 9)), reduction_factor=3)
    trials = [_trial(0, 0.5), _trial(1, 0.9), _trial(2, 0.7), _trial(3, 0.95, rung=1, parent=1, root=1)]
    for trial, seconds in zip(trials, (2.0, 2.0, 2.0, 3.0), strict=True):
        trial.user_attrs["train_seconds"] = seconds  # rung 1 trained 2 epochs in 3 s: 1.5 s per epoch
    # a new configuration reaches 9 epochs in 2 s + 8 epochs x 1.5 s (the reserve pace): only from 14 s on
    assert asha.decide(trials, limits=Limits(trials=100, seconds=14.5), may_create=True).kind is Kind.NEW
    last = asha.decide(trials, limits=Limits(trials=100, seconds=13.5), may_create=True)
    assert last.kind is Kind.PROMOTE and last.parent.number == 3 and last.segment.end == 9
    assert asha.decide(trials, limits=Limits(trials=100, seconds=10.0), may_create=True).parent.number == 3
    assert asha.decide(trials, limits=Limits(trials=100, seconds=8.0), may_create=True).kind is Kind.DONE


def test_a_promotion_to_the_furthest_rung_keeps_the_time_its_own_configuration_needs_for_the_top():
    asha = SuccessiveHalving(rungs=Rungs((1, 3, 9)), reduction_factor=3)
    trials = [_trial(0, 0.5), _trial(1, 0.9), _trial(2, 0.7)]
    for trial, seconds in zip(trials, (2.0, 4.0, 2.0), strict=True):
        trial.user_attrs["train_seconds"] = seconds  # trial 1, the best, is twice as slow as the others
    # promoting it costs 2 x 4 s, and then 6 more epochs at its own 4 s: 32 s; at the median 2 s it would be 20 s
    assert asha.decide(trials, limits=Limits(trials=100, seconds=25.0), may_create=True).kind is Kind.NEW
    promote = asha.decide(trials, limits=Limits(trials=100, seconds=33.0), may_create=True)
    assert promote.kind is Kind.PROMOTE and promote.parent.number == 1


def _past_the_top():
    """Six screenings, two at rung 1 (trial 7 never promoted), one configuration at the top rung: 16 epochs."""
    trials = [_trial(n, n / 10) for n in range(6)]
    trials += [_trial(6, 0.8, rung=1, parent=5, root=5), _trial(7, 0.7, rung=1, parent=4, root=4),
               _trial(8, 0.9, rung=2, parent=6, root=5)]
    for trial in trials:
        trial.user_attrs["train_seconds"] = 2.0 * trial.user_attrs[EPOCHS_RUN_ATTR]  # 2 s per epoch
    for trial in trials[:6]:
        trial.user_attrs["train_seconds"] = 1.0  # but 1 s for a screening
    return trials


def test_once_a_new_configuration_could_not_reach_the_top_the_rest_of_an_epoch_budget_takes_another_there():
    asha = SuccessiveHalving(rungs=RUNGS, reduction_factor=3)
    trials = _past_the_top()
    assert asha.decide(trials, limits=Limits(trials=100, epochs=25), may_create=True).kind is Kind.NEW
    push = asha.decide(trials, limits=Limits(trials=100, epochs=24), may_create=True)  # 16 + 9 > 24
    assert push.kind is Kind.PROMOTE and push.parent.number == 7 and push.segment.end == 9  # 16 + 6 <= 24
    assert asha.decide(trials, limits=Limits(trials=100, epochs=21), may_create=True).kind is Kind.DONE
    # under the trials cap, the study is over once one configuration is at the top
    assert asha.decide(trials, limits=Limits(trials=6, epochs=24), may_create=True).kind is Kind.DONE


def test_once_a_new_configuration_could_not_reach_the_top_in_time_the_rest_takes_another_there():
    asha = SuccessiveHalving(rungs=RUNGS, reduction_factor=3)
    trials = _past_the_top()
    # a new configuration needs a 1 s screening and 8 epochs at the top rung's 2 s: 17 s
    assert asha.decide(trials, limits=Limits(trials=100, seconds=17.5), may_create=True).kind is Kind.NEW
    push = asha.decide(trials, limits=Limits(trials=100, seconds=16.0), may_create=True)
    assert push.kind is Kind.PROMOTE and push.parent.number == 7  # 6 epochs x 2 s
    lower = asha.decide(trials, limits=Limits(trials=100, seconds=9.0), may_create=True)
    assert lower.kind is Kind.PROMOTE and lower.parent.number == 3  # trial 3 needs 8 epochs at its 1 s: 8 s
    assert asha.decide(trials, limits=Limits(trials=100, seconds=7.0), may_create=True).kind is Kind.DONE


def test_past_that_point_a_free_worker_takes_another_configuration_to_the_top_while_others_train():
    asha = SuccessiveHalving(rungs=RUNGS, reduction_factor=3)
    # another worker trains configuration 3 from rung 0 to 1 (2 epochs): 18 epochs spent or held
    trials = [*_past_the_top(), _trial(9, None, rung=1, parent=3, root=3, state=TrialState.RUNNING)]
    push = asha.decide(trials, limits=Limits(trials=100, epochs=26), may_create=True)  # 18 + 9 > 26
    assert push.kind is Kind.PROMOTE and push.parent.number == 7 and push.segment.end == 9  # 18 + 6 <= 26
    assert asha.decide(trials, limits=Limits(trials=100, epochs=23), may_create=True).kind is Kind.IDLE
    # before that point, or under a reached trials cap, it waits for the running trial as before
    assert asha.decide(trials, limits=Limits(trials=100, epochs=40), may_create=False).kind is Kind.IDLE
    assert asha.decide(trials, limits=Limits(trials=6, epochs=26), may_create=True).kind is Kind.IDLE


# A pick at or above this fails the trial it ends, as if its worker had died.
DIES = 100


def _simulate_workers(scheduler, limits, values, *, workers, picks):
    """Like :func:`_simulate`, with ``workers`` trials at a time that end in the order ``picks`` chooses."""
    trials, configs, picks = [], 0, iter(picks)
    while True:
        running = [i for i, t in enumerate(trials) if t.state == TrialState.RUNNING]
        decision = scheduler.decide(trials, limits=limits, may_create=True) if len(running) < workers else None
        if decision is not None and decision.kind in (Kind.NEW, Kind.PROMOTE):
            if decision.kind is Kind.NEW:
                segment, x = Segment.first(scheduler.rungs), values[configs % len(values)]
                configs += 1
            else:
                segment, x = decision.segment, decision.parent.params["x"]
            trial = create_trial(state=TrialState.RUNNING, params={"x": x}, distributions={"x": X},
                                 user_attrs={**segment.attrs(), CHECKPOINT_ATTR: f"ck{len(trials)}"})
            trial.number = len(trials)
            trials.append(trial)
            continue
        if not running:
            assert decision is not None and decision.kind is Kind.DONE
            return trials
        pick = next(picks, 0)
        ending = trials[running[pick % len(running)]]
        segment = Segment.of(ending, scheduler.rungs)
        if pick >= DIES:  # its worker died before it trained anything
            done = create_trial(state=TrialState.FAIL, params=ending.params, distributions={"x": X},
                                user_attrs={**ending.user_attrs, EPOCHS_RUN_ATTR: 0, "fail_kind": "worker_died"})
        else:
            done = create_trial(state=TrialState.COMPLETE, value=ending.params["x"] + segment.end,
                                params=ending.params, distributions={"x": X},
                                user_attrs={**ending.user_attrs, EPOCHS_RUN_ATTR: segment.epochs})
        done.number = ending.number
        trials[ending.number] = done


@settings(max_examples=500, deadline=None)
@given(rungs=st.sampled_from([(1, 3), (1, 3, 9), (2, 4, 8, 16), (1, 27)]), factor=st.integers(2, 5),
       trials=st.integers(1, 30), epochs=st.integers(1, 200), values=st.lists(st.floats(0, 1), min_size=1, max_size=30),
       workers=st.integers(2, 4), picks=st.lists(st.integers(0, 3), max_size=200), deaths=st.booleans())
def test_with_several_workers_the_budgets_are_kept_and_end_with_a_final_model(
        rungs, factor, trials, epochs, values, workers, picks, deaths):
    scheduler = SuccessiveHalving(rungs=Rungs(rungs), reduction_factor=factor)
    epochs = max(epochs, rungs[-1])
    picks = [p + DIES * (deaths and n % 5 == 4) for n, p in enumerate(picks)]  # with deaths, every fifth trial fails
    done = _simulate_workers(scheduler, Limits(trials=trials, epochs=epochs), values, workers=workers, picks=picks)
    assert sum(t.user_attrs[EPOCHS_RUN_ATTR] for t in done) <= epochs
    assert sum(t.user_attrs["rung"] == 0 for t in done) <= trials
    if not deaths:
        assert final_trial(done).user_attrs["end_epoch"] == rungs[-1]
