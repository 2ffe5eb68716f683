#!/usr/bin/env python3
"""Tune an LSTM on MNIST with Optuna TPE, Harris Hawks Optimization or random search.

Every trial of every optimizer is stored in one Optuna storage. Exit codes: 0 success,
1 failure during the run, 2 bad input (nothing written), 130 interrupted.
"""

from __future__ import annotations

import argparse
import functools
import io
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from studies.exit_codes import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from studies.running.interrupts import Interrupts

_logger = logging.getLogger("run_search")


def build_parser() -> argparse.ArgumentParser:
    from studies.store.storage import DEFAULT_STORAGE, STORAGE_ENV_VAR

    parser = argparse.ArgumentParser(
        prog="run_search.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    storage_help = f"SQLAlchemy URL of the study store (default: ${STORAGE_ENV_VAR} or {DEFAULT_STORAGE})"
    for add in (_add_launch, _add_worker, _add_list, _add_compare, _add_export, _add_dashboard):
        add(commands, storage_help)
    return parser


def _add_launch(commands: Any, storage_help: str) -> None:
    from search.optimizers import OPTIMIZERS
    from search.optimizers.hho import BUDGET_PER_HAWK, DEFAULT_POP_CAP, MIN_POP_SIZE
    from studies.config import DEFAULT_OPTIMIZER, DEFAULT_SEED
    from studies.launch import DEFAULT_JOBS
    from studies.running.pruners import DEFAULT_PRUNER, DEFAULT_PRUNER_WITH_RUNGS, PRUNERS

    launch = commands.add_parser("launch", help="create (or --resume) a study and run it",
                                 description="Create a study, or continue one with --resume, and run "
                                 "it until its limits (--trials, --epoch-budget, --timeout) are spent.")
    launch.add_argument("--study", required=True, help="study name (letters, digits, . _ -)")
    launch.add_argument("--optimizer", choices=sorted(OPTIMIZERS),
                        help=f"search algorithm (default: {DEFAULT_OPTIMIZER})")
    launch.add_argument("--trials", type=int, help="configurations to screen in all (with --epoch-budget or "
                        "--timeout, a cap; a promotion to a longer rung is a further trial of the same configuration)")
    launch.add_argument("--storage", help=storage_help)
    _add_training_options(launch)
    launch.add_argument("--seed", type=int, help=f"seed of the optimizer and of every trial (default: {DEFAULT_SEED})")
    launch.add_argument("--pop-size", type=int, help="HHO only: hawks per population "
                        f"(default: the configurations the study is planned for / {BUDGET_PER_HAWK}, within "
                        f"[{MIN_POP_SIZE}, {DEFAULT_POP_CAP}])")
    launch.add_argument("--pruner", choices=sorted(PRUNERS), help="stop poor trials early after an epoch "
                        f"(default: {DEFAULT_PRUNER} with one rung, as measured in benchmarks/results/pruning.md; "
                        f"{DEFAULT_PRUNER_WITH_RUNGS} with several, where successive halving stops them)")
    launch.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="worker processes sharing the study on "
                        "this machine, each with cores/J threads; 0: none, only lead the study while "
                        f"`worker` processes on other hosts train (default: {DEFAULT_JOBS})")
    _add_recycle_option(launch)
    launch.add_argument("--resume", action="store_true", help="continue an existing study (it may raise its limits)")
    launch.add_argument("--no-progress", action="store_true", help="no progress bar")
    launch.set_defaults(handler=_launch)


def _add_worker(commands: Any, storage_help: str) -> None:
    from studies.work import DEFAULT_WORKER_JOBS

    worker = commands.add_parser(
        "worker", help="train trials of the studies in a store, on this host",
        description="Join a study (or every study in the store that has work) and train its trials "
        "with its recorded settings until it holds its budget; start it on as many hosts as you like "
        "against one PostgreSQL database.")
    worker.add_argument("--storage", help=storage_help)
    worker.add_argument("--study", help="the study to work on (default: every study with work, in name order)")
    worker.add_argument("--jobs", type=int, default=DEFAULT_WORKER_JOBS, help="worker processes on this host, "
                        f"each with cores/J threads (default: {DEFAULT_WORKER_JOBS})")
    _add_recycle_option(worker)
    worker.set_defaults(handler=_worker)


def _add_recycle_option(parser: argparse.ArgumentParser) -> None:
    from studies.config import DEFAULT_RECYCLE_EVERY

    parser.add_argument("--recycle-every", type=int, default=DEFAULT_RECYCLE_EVERY, help="replace a worker "
                        "process after this many trials, since TensorFlow leaks memory per model; 0: never "
                        f"(default: {DEFAULT_RECYCLE_EVERY})")


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    """How every trial trains: the options launch and compare share."""
    from search.objective import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS
    from search.schedulers import DEFAULT_REDUCTION_FACTOR
    from studies.config import DEFAULT_ARTIFACTS, DEFAULT_FIRST_RUNG, DEFAULT_MAX_FAILURES

    parser.add_argument("--epochs", type=int, help="the final model's training length in epochs: the top rung "
                        f"(default: the last of --rungs, else {DEFAULT_EPOCHS})")
    parser.add_argument("--rungs", type=_epoch_list, help="training lengths at which configurations are compared, "
                        "e.g. 1,3,9,27: each trial screens at the first, the best 1/--reduction-factor of each "
                        f"rung go on to the next (default: {DEFAULT_FIRST_RUNG}, then x factor up to --epochs)")
    parser.add_argument("--reduction-factor", type=int, help="promote the best 1/factor of each rung "
                        f"(default: {DEFAULT_REDUCTION_FACTOR})")
    parser.add_argument("--epoch-budget", type=int, help="training epochs all trials may use together "
                        "(a pruned or promoted trial counts what it trained); default: no limit")
    parser.add_argument("--timeout", type=float, help="seconds after which no trial starts (each launch); "
                        "default: no limit")
    parser.add_argument("--artifacts", help="directory for checkpoints, shared by all hosts (default: beside a "
                        f"SQLite file, else ./{DEFAULT_ARTIFACTS})")
    parser.add_argument("--batch-size", type=int, help=f"training batch size (default: {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--data", help="MNIST source: a directory of IDX files, an mnist.npz, "
                        "'keras', 'mnist-5k' (embedded, offline) or 'auto' (default)")
    parser.add_argument("--space", help="search space file (.toml, .json, .yaml); default: the built-in space")
    parser.add_argument("--max-failures", type=int, help="stop after this many consecutive failed trials "
                        f"(default: the study's, else {DEFAULT_MAX_FAILURES})")


def _epoch_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be whole numbers of epochs separated by commas, e.g. 1,3,9, "
                                         f"but got {text!r}") from None


def _add_list(commands: Any, storage_help: str) -> None:
    listing = commands.add_parser("list", help="list the studies of a store")
    listing.add_argument("--storage", help=storage_help)
    listing.set_defaults(handler=_list)


def _add_export(commands: Any, storage_help: str) -> None:
    export = commands.add_parser(
        "export", help="write the best configuration of a study (optionally retrained and tested)",
        description="Write the final model's trial of a study (the best of the highest rung reached), or "
        "of a comparison's winning study, with everything needed to train it again. With --model-out, save "
        "its checkpoint and score it once on the untouched test split. With --retrain, train it again on "
        "train+validation instead. Either way the test accuracy is written next to the validation accuracy.")
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--study", help="study name")
    source.add_argument("--compare", metavar="DIR", help="a comparison report directory: export its best study")
    export.add_argument("--storage", help=storage_help + "; with --compare, default: the report's")
    export.add_argument("--out", help="file to write (.json, or .yaml/.yml); default: print JSON")
    export.add_argument("--retrain", action="store_true", help="retrain on train+validation and test once")
    export.add_argument("--epochs", type=int, help="with --retrain: epochs (default: the study's top rung)")
    export.add_argument("--model-out", help="save the final model to this .keras file and test it once: its "
                        "checkpoint, or with --retrain the retrained model")
    export.add_argument("--data", help="with --retrain or --model-out: MNIST source (default: the one the study "
                        "recorded)")
    export.set_defaults(handler=_export)


def _add_dashboard(commands: Any, storage_help: str) -> None:
    from studies.dashboard import DEFAULT_PORT, LOCAL_HOST

    dashboard = commands.add_parser(
        "dashboard", help="browse the studies of a store in optuna-dashboard",
        description="Serve optuna-dashboard (pip install 'lstm-tuner[dashboard]') on the study store. "
        f"It binds to {LOCAL_HOST} unless --host says otherwise; anyone who can reach it can edit studies.")
    dashboard.add_argument("--storage", help=storage_help)
    dashboard.add_argument("--host", default=LOCAL_HOST,
                           help=f"address to bind (default: {LOCAL_HOST}, this machine only)")
    dashboard.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    dashboard.set_defaults(handler=_dashboard)


def _add_compare(commands: Any, storage_help: str) -> None:
    compare = commands.add_parser(
        "compare", help="run optimizers on equal budgets over several seeds and write a report",
        description="Run K studies per optimizer (seeds 0..K-1, named NAME-OPTIMIZER-seedK) with the same "
        "budget, data, epochs and space, then write OUT/report.md, OUT/summary.json and figures. "
        "With --studies, report on studies that already exist instead.")
    compare.add_argument("--optimizers", help="comma-separated optimizers to compare, e.g. hho,tpe,random")
    compare.add_argument("--trials", type=int, help="configurations per study (with --epoch-budget, a cap)")
    compare.add_argument("--seeds", type=int, help="studies per optimizer, seeds 0..K-1")
    _add_training_options(compare)
    compare.add_argument("--pruner", help="pruner of every study: median, hyperband or none (default: as launch)")
    compare.add_argument("--name", default="compare", help="prefix of the study names (default: compare)")
    compare.add_argument("--studies", help="comma-separated existing studies to report on (no training)")
    compare.add_argument("--force", action="store_true", help="with --studies: report studies that do not compare")
    compare.add_argument("--target", type=float, help="target validation accuracy (default: 0.99 x the best seen)")
    compare.add_argument("--storage", help=storage_help)
    compare.add_argument("--out", default="comparison", help="report directory (default: comparison)")
    compare.add_argument("--resume", action="store_true", help="continue an interrupted comparison")
    compare.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    from models.errors import ConfigError
    from studies.compare import compare, report_studies

    command = reproduce_command(args.argv)
    if args.studies is not None:
        clashing = [f"--{n.replace('_', '-')}" for n in ("optimizers", "trials", "seeds", "epoch_budget")
                    if getattr(args, n) is not None]
        if clashing:
            raise ConfigError(f"--studies reports on existing studies; drop {', '.join(clashing)}")
        result = report_studies(studies=args.studies.split(","), storage=args.storage, out=args.out,
                                force=args.force, target=args.target, command=command)
    else:
        missing = [f"--{n}" for n in ("optimizers", "seeds") if getattr(args, n) is None]
        if args.trials is None and args.epoch_budget is None:
            missing.append("--trials or --epoch-budget")
        if missing:
            raise ConfigError(f"compare needs {', '.join(missing)} (or --studies to report on existing studies)")
        result = compare(
            optimizers=args.optimizers.split(","), trials=args.trials, seeds=args.seeds, epochs=args.epochs,
            batch_size=args.batch_size, data=args.data, space=args.space, storage=args.storage,
            out=args.out, name=args.name, resume=args.resume, target=args.target, pruner=args.pruner,
            max_failures=args.max_failures, command=command, worker_init=_worker_logging(args), rungs=args.rungs,
            reduction_factor=args.reduction_factor, epoch_budget=args.epoch_budget, timeout=args.timeout,
            artifacts=args.artifacts,
        )
    print(f"wrote {result.out / 'report.md'}: {result.summary['verdict']}")
    return EXIT_OK


def reproduce_command(argv: Sequence[str]) -> str:
    """The command line that reproduces this run: no --resume or log flags, the password masked."""
    import shlex

    from studies.store.storage import mask_url

    dropped = {"--resume", "--debug", "-q", "--quiet", "--no-progress"}
    words, mask_next = ["python", "run_search.py"], False
    for word in argv:
        if word in dropped:
            continue
        if mask_next:
            word = mask_url(word)
        elif word.startswith("--storage="):
            word = "--storage=" + mask_url(word.removeprefix("--storage="))
        mask_next = word == "--storage"
        words.append(word)
    return shlex.join(words)


def _launch(args: argparse.Namespace) -> int:
    from studies.launch import launch

    result = launch(
        study_name=args.study, trials=args.trials, optimizer=args.optimizer, storage=args.storage,
        epochs=args.epochs, batch_size=args.batch_size, data=args.data, space=args.space,
        seed=args.seed, pop_size=args.pop_size, pruner=args.pruner, resume=args.resume,
        max_failures=args.max_failures, progress=not args.no_progress and sys.stderr.isatty(), jobs=args.jobs,
        recycle_every=args.recycle_every, worker_init=_worker_logging(args), rungs=args.rungs,
        reduction_factor=args.reduction_factor, epoch_budget=args.epoch_budget, timeout=args.timeout,
        artifacts=args.artifacts,
    )
    best = (f"{result.best_value:.4f} (trial {result.best_trial}, {result.best_epochs} epochs) with "
            f"{result.best_params}" if result.best_value is not None else "none")
    print(f"study {result.study_name}: {result.finished} trials finished ({result.configurations} configurations, "
          f"{result.epochs} training epochs), final model {best}")
    return EXIT_OK


def _worker(args: argparse.Namespace) -> int:
    from studies.work import work

    result = work(storage=args.storage, study_name=args.study, jobs=args.jobs, recycle_every=args.recycle_every,
                  worker_init=_worker_logging(args))
    print(f"worked on {len(result.studies)} stud{'y' if len(result.studies) == 1 else 'ies'}: "
          f"{', '.join(result.studies) or 'none had work'}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from studies.listing import format_table, list_studies

    print(format_table(list_studies(storage=args.storage)))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    import json

    from studies.export import export_best, winner_of

    study, storage = args.study, args.storage
    if args.compare is not None:
        study, storage = winner_of(args.compare, storage=args.storage)
    config = export_best(study_name=study, storage=storage, out=args.out, retrain=args.retrain,
                         epochs=args.epochs, model_out=args.model_out, data=args.data)
    if args.out is None:
        print(json.dumps(config, indent=2))
        return EXIT_OK
    tested = f", test accuracy {config['test_accuracy']:.4f}" if "test_accuracy" in config else ""
    print(f"wrote {args.out}: {study} trial {config['trial']}, validation accuracy "
          f"{config['validation_accuracy']:.4f}{tested}")
    return EXIT_OK


def _dashboard(args: argparse.Namespace) -> int:
    from studies.dashboard import serve

    serve(storage=args.storage, host=args.host, port=args.port)
    return EXIT_OK


def _worker_logging(args: argparse.Namespace) -> Callable[[], None]:
    """What a worker process calls first: this run's logging, lines tagged with the worker."""
    return functools.partial(configure_logging, debug=args.debug, quiet=args.quiet, worker=True)


def configure_logging(*, debug: bool, quiet: bool, worker: bool = False) -> None:
    """Log lines to stderr; ``worker``: prefixed with the worker process's name."""
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    where = " [%(processName)s]" if worker else ""
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s{where} %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in ("run_search", "models", "search", "studies"):
        logging.getLogger(name).setLevel(level)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own line per trial replaces Optuna's
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    # Optuna's warning per failed trial repeats our FAIL line, with a traceback: debug only.
    logging.getLogger("optuna.study._optimize").setLevel(logging.DEBUG if debug else logging.ERROR)


def _run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace,
                 interrupts: Interrupts) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from models.errors import ConfigError
    from studies.running.progress import TooManyFailures
    from studies.running.workers import WorkerFailed

    try:
        with logging_redirect_tqdm():
            return handler(args)
    except ConfigError as exc:
        _logger.error("%s", exc)
        if args.debug:
            raise
        return EXIT_USAGE
    except (TooManyFailures, WorkerFailed) as exc:
        _logger.error("%s", exc)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as exc:
        if interrupts.requested:  # the interrupt, come out of TensorFlow as another error
            return _interrupted()
        if args.debug:
            raise
        _logger.error("failed: %s: %s (run with --debug for the traceback)", type(exc).__name__, exc)
        return EXIT_FAILURE


def _interrupted() -> int:
    _logger.error("interrupted: the running trial is marked FAIL; continue with the same command and --resume")
    return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    configure_logging(debug=args.debug, quiet=args.quiet)
    interrupts = Interrupts()
    interrupts.install()
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    return _run_handler(args.handler, args, interrupts)


if __name__ == "__main__":
    sys.exit(main())
