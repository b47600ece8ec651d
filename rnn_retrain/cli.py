"""The ``retrain`` command line.

``retrain run`` has one flag per `RetrainConfig` field, generated from the model so the CLI, the
flow and the Prefect UI form can never disagree. Errors a user can fix are printed as one line
(``error: ...``) with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib
import logging
import sys
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from rnn_retrain.config import RetrainConfig, SweepConfig
from rnn_retrain.errors import RetrainError
from rnn_retrain.model_commands import add_model_commands
from rnn_retrain.quiet import load_tensorflow_quietly, prepare_environment

EXIT_USER_ERROR = 2


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_flags(
    parser: argparse.ArgumentParser, model: type[RetrainConfig] = RetrainConfig
) -> None:
    """Add one flag per configuration field, with its description and default as help."""
    for name, field in model.model_fields.items():
        help_text = f"{field.description} (default: {field.default!r})"
        # Unset flags stay out of the namespace, so only what the user typed overrides defaults.
        options: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
        if field.annotation is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(field.annotation) is tuple:
            # A list, e.g. --data-gate-errors leakage class_balance, --units-grid 16 32.
            (item, _) = typing.get_args(field.annotation)
            if typing.get_origin(item) is typing.Literal:
                options.update(nargs="*", metavar="NAME")
            else:
                options.update(nargs="*", type=item, metavar=item.__name__.upper())
        else:
            choices = typing.get_args(field.annotation)
            if typing.get_origin(field.annotation) is typing.Literal:
                options["metavar"] = "{" + ",".join(choices) + "}"
            else:
                options["metavar"] = field.annotation.__name__.upper()
        parser.add_argument(_flag(name), **options)


def config_from_args(
    args: argparse.Namespace, model: type[RetrainConfig] = RetrainConfig
) -> RetrainConfig:
    """Build the configuration from the flags the user gave; pydantic checks every value."""
    given = {name: getattr(args, name) for name in model.model_fields if hasattr(args, name)}
    return model(**given)


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad flag, its problem and the value given."""
    problems = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"])
        flag = _flag(field) if field in SweepConfig.model_fields else field
        problems.append(f"{flag}: {detail['msg']} (got {detail.get('input')!r})")
    return "; ".join(problems)


def build_parser() -> argparse.ArgumentParser:
    """The ``retrain`` argument parser and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="retrain", description="Retrain Keras recurrent text classifiers with Prefect."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run the retraining flow once, locally",
        description=(
            "Run ingest → tokenize → pad → train → evaluate → register once, locally "
            "(Prefect ephemeral API)."
        ),
    )
    add_config_flags(run)
    run.add_argument("--verbose", action="store_true", help="show Prefect's own logs in full")
    run.set_defaults(handler=run_command)
    sweep = commands.add_parser(
        "sweep",
        help="train several candidate models in parallel and register the best",
        description=(
            "Prepare the data once, train and evaluate every candidate (by default SimpleRNN, "
            "GRU and LSTM) in parallel, locally or on Dask, and send the one with the lowest "
            "validation loss through the registry gate."
        ),
    )
    add_config_flags(sweep, SweepConfig)
    sweep.set_defaults(handler=sweep_command)
    serve = commands.add_parser(
        "serve",
        help="serve the scheduled and manual deployments (needs a Prefect server)",
        description=(
            "Register the deployments of deployments/prefect.yaml with the Prefect server at "
            "PREFECT_API_URL and run their scheduled and UI-started runs until interrupted."
        ),
    )
    serve.set_defaults(handler=serve_command)
    add_model_commands(commands)
    return parser


def serve_command(args: argparse.Namespace) -> int:
    """``retrain serve``: serve the deployments from this process (Prefect's ``serve``)."""
    from deployments.serve import require_prefect_server, serve_deployments

    require_prefect_server()
    load_tensorflow_quietly()
    serve_deployments()
    return 0


class _HideUserErrorRecords(logging.Filter):
    """Keep Prefect's records of a `RetrainError` (with tracebacks) off the console.

    The CLI prints such an error once, as one line; the records still reach the Prefect API
    (its handler is not filtered), so the UI keeps the full story.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, RetrainError) and "RetrainError" not in record.getMessage()


def sweep_command(args: argparse.Namespace) -> int:
    """``retrain sweep``: validate the flags, run the sweep flow, print the comparison."""
    config = config_from_args(args, SweepConfig)
    from deployments.serve import require_prefect_server
    from tasks.select import candidate_configs

    candidate_configs(config)  # A bad grid value fails here, in one line, before any work.
    if config.task_runner == "dask" and config.dask_address:
        from tasks.runtime import require_dask_scheduler

        require_dask_scheduler(config.dask_address)
    server = require_prefect_server(required=False)
    sweep = load_flow_while_api_starts(ephemeral=server is None, module="flows.sweep").sweep
    hide_user_error_records()
    summary = sweep(config)
    from rnn_retrain.report import print_comparison

    print_comparison(summary)
    return 0


def load_flow_while_api_starts(ephemeral: bool, module: str = "flows.retrain") -> Any:
    """Import the flow (seconds of Python imports) while Prefect's ephemeral API starts.

    The API is a separate process that takes seconds to answer; overlapping the two halves the
    start-up of a run whose stages all come from the cache.
    """
    from prefect.settings import get_current_settings

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        loading = pool.submit(importlib.import_module, module)
        if ephemeral and get_current_settings().server.ephemeral.enabled:
            from prefect.server.api.server import SubprocessASGIServer

            SubprocessASGIServer().start()  # The one Prefect's client would start on first use.
        return loading.result()


def hide_user_error_records() -> None:
    """Keep Prefect's tracebacks of user errors off the console (the CLI prints one line)."""
    # Prefect's console handler sits on the root logger (see prefect/logging/logging.yml).
    for handler in logging.getLogger().handlers:
        handler.addFilter(_HideUserErrorRecords())


def run_command(args: argparse.Namespace) -> int:
    """``retrain run``: validate the flags, run the flow, print the metrics."""
    config = config_from_args(args)
    from deployments.serve import require_prefect_server

    server = require_prefect_server(required=False)
    retrain = load_flow_while_api_starts(ephemeral=server is None).retrain
    if not args.verbose:
        hide_user_error_records()
    summary = retrain(config)
    from rnn_retrain.report import print_summary

    print_summary(summary)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``retrain`` command."""
    args = build_parser().parse_args(argv)
    prepare_environment()
    try:
        return args.handler(args)
    except ValidationError as error:
        print(f"error: {describe_validation_error(error)}", file=sys.stderr)
    except RetrainError as error:
        print(f"error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
