#!/usr/bin/env python3
"""Tune an LSTM on MNIST with Optuna TPE, Harris Hawks Optimization or random search.

Every trial of every optimizer is stored in one Optuna storage. Exit codes: 0 success,
1 failure during the run, 2 bad input (nothing written), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_logger = logging.getLogger("run_search")


def build_parser() -> argparse.ArgumentParser:
    from search.optimizers import OPTIMIZERS
    from studies.storage import DEFAULT_STORAGE, STORAGE_ENV_VAR

    parser = argparse.ArgumentParser(
        prog="run_search.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    storage_help = f"SQLAlchemy URL of the study store (default: ${STORAGE_ENV_VAR} or {DEFAULT_STORAGE})"

    launch = commands.add_parser("launch", help="create (or --resume) a study and run it",
                                 description="Create a study, or continue one with --resume, and run "
                                 "it until it holds --trials finished trials.")
    launch.add_argument("--study", required=True, help="study name (letters, digits, . _ -)")
    launch.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help="search algorithm (default: tpe)")
    launch.add_argument("--trials", type=int, help="total finished trials the study should hold")
    launch.add_argument("--storage", help=storage_help)
    launch.add_argument("--epochs", type=int, help="training epochs per trial (default: 2)")
    launch.add_argument("--batch-size", type=int, help="training batch size (default: 128)")
    launch.add_argument("--data", help="MNIST source: a directory of IDX files, an mnist.npz, "
                        "'keras', 'mnist-5k' (embedded, offline) or 'auto' (default)")
    launch.add_argument("--space", help="search space file (.toml, .json, .yaml); default: the built-in space")
    launch.add_argument("--seed", type=int, help="seed of the optimizer and of every trial (default: 0)")
    launch.add_argument("--pop-size", type=int, help="HHO only: hawks per population "
                        "(default: budget/10, within [5, 30])")
    launch.add_argument("--max-failures", type=int, default=5,
                        help="stop after this many consecutive failed trials (default: 5)")
    launch.add_argument("--resume", action="store_true", help="continue an existing study to --trials")
    launch.add_argument("--no-progress", action="store_true", help="no progress bar")
    launch.set_defaults(handler=_launch)

    listing = commands.add_parser("list", help="list the studies of a store")
    listing.add_argument("--storage", help=storage_help)
    listing.set_defaults(handler=_list)

    export = commands.add_parser("export", help="write the best configuration of a study")
    export.add_argument("--study", required=True, help="study name")
    export.add_argument("--storage", help=storage_help)
    export.add_argument("--out", help="file to write (.json, or .yaml/.yml); default: print JSON")
    export.set_defaults(handler=_export)
    return parser


def _launch(args: argparse.Namespace) -> int:
    from studies.launch import launch

    result = launch(
        study_name=args.study, trials=args.trials, optimizer=args.optimizer, storage=args.storage,
        epochs=args.epochs, batch_size=args.batch_size, data=args.data, space=args.space,
        seed=args.seed, pop_size=args.pop_size, resume=args.resume, max_failures=args.max_failures,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    best = f"{result.best_value:.4f} with {result.best_params}" if result.best_value is not None else "none"
    print(f"study {result.study_name}: {result.finished}/{result.budget} trials finished, best {best}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from studies.listing import format_table, list_studies

    print(format_table(list_studies(storage=args.storage)))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    import json

    from studies.export import export_best

    config = export_best(study_name=args.study, storage=args.storage, out=args.out)
    if args.out is None:
        print(json.dumps(config, indent=2))
    else:
        print(f"wrote {args.out}: trial {config['trial']}, validation accuracy {config['value']:.4f}")
    return EXIT_OK


def configure_logging(*, debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in ("run_search", "models", "search", "studies"):
        logging.getLogger(name).setLevel(level)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own line per trial replaces Optuna's
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from models.errors import ConfigError
    from studies.progress import TooManyFailures

    try:
        with logging_redirect_tqdm():
            return handler(args)
    except ConfigError as exc:
        _logger.error("%s", exc)
        if args.debug:
            raise
        return EXIT_USAGE
    except TooManyFailures as exc:
        _logger.error("%s", exc)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _logger.error("interrupted: the running trial is marked FAIL; continue with the same command and --resume")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if args.debug:
            raise
        _logger.error("failed: %s: %s (run with --debug for the traceback)", type(exc).__name__, exc)
        return EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    configure_logging(debug=args.debug, quiet=args.quiet)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with contextlib.suppress(AttributeError):
        sys.stdout.reconfigure(line_buffering=True)
    return _run_handler(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
