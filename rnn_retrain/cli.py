"""The ``retrain`` command line.

``retrain run`` has one flag per `RetrainConfig` field, generated from the model so the CLI, the
flow and the Prefect UI form can never disagree. Errors a user can fix are printed as one line
(``error: ...``) with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from rnn_retrain.config import RetrainConfig
from rnn_retrain.errors import RetrainError
from rnn_retrain.model_commands import add_model_commands
from rnn_retrain.quiet import load_tensorflow_quietly, prepare_environment

EXIT_USER_ERROR = 2


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per configuration field, with its description and default as help."""
    for name, field in RetrainConfig.model_fields.items():
        help_text = f"{field.description} (default: {field.default!r})"
        # Unset flags stay out of the namespace, so only what the user typed overrides defaults.
        options: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
        if field.annotation is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(field.annotation) is tuple:
            # A list of names, e.g. --data-gate-errors leakage class_balance (none: no names).
            (item, _) = typing.get_args(field.annotation)
            options.update(nargs="*", choices=typing.get_args(item), metavar="NAME")
        else:
            choices = typing.get_args(field.annotation)
            if typing.get_origin(field.annotation) is typing.Literal:
                options["metavar"] = "{" + ",".join(choices) + "}"
            else:
                options["metavar"] = field.annotation.__name__.upper()
        parser.add_argument(_flag(name), **options)


def config_from_args(args: argparse.Namespace) -> RetrainConfig:
    """Build the configuration from the flags the user gave; pydantic checks every value."""
    given = {
        name: getattr(args, name) for name in RetrainConfig.model_fields if hasattr(args, name)
    }
    return RetrainConfig(**given)


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad flag, its problem and the value given."""
    problems = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"])
        flag = _flag(field) if field in RetrainConfig.model_fields else field
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


def run_command(args: argparse.Namespace) -> int:
    """``retrain run``: validate the flags, run the flow, print the metrics."""
    config = config_from_args(args)
    from deployments.serve import require_prefect_server

    require_prefect_server(required=False)
    if not args.verbose:
        load_tensorflow_quietly()
    from flows.retrain import retrain  # Imported late: TensorFlow's start-up takes seconds.

    if not args.verbose:
        # Prefect's console handler sits on the root logger (see prefect/logging/logging.yml).
        for handler in logging.getLogger().handlers:
            handler.addFilter(_HideUserErrorRecords())
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
