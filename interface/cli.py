"""The ``retrain`` command line.

``retrain run`` has one flag per configuration field, generated from the model so the CLI, the
flow and the Prefect UI form can never disagree; the flags are the fields' names, whatever
section of the configuration they sit in. Errors a user can fix are printed as one line
(``error: ...``) with a distinct exit status per cause (`rnn_retrain.errors`); no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import typing
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from rnn_retrain import __version__
from rnn_retrain.config.retrain import RetrainConfig, SweepConfig
from rnn_retrain.config.secrets import redacted
from rnn_retrain.environment.faults import describe_fault
from rnn_retrain.environment.process import exit_without_final_collection
from rnn_retrain.environment.quiet import load_tensorflow_quietly, prepare_environment
from rnn_retrain.environment.services import require_prefect_server, require_tracking_server
from rnn_retrain.errors import (
    EXIT_INTERRUPTED,
    EXIT_NOT_PROMOTED,
    EXIT_OK,
    EXIT_USAGE,
    RetrainError,
)
from rnn_retrain.interface.alerts_command import add_alert_commands
from rnn_retrain.interface.flow_start import hide_user_error_records, load_flow_while_api_starts
from rnn_retrain.interface.gc_command import add_gc_command
from rnn_retrain.interface.model_commands import add_model_commands
from rnn_retrain.interface.model_server import add_serve_model_command
from rnn_retrain.interface.score_command import add_score_command


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def config_fields(model: type[BaseModel]) -> dict[str, Any]:
    """Every field of a sectioned configuration model, by its flat name."""
    return {
        name: field
        for section in model.model_fields.values()
        for name, field in section.annotation.model_fields.items()  # type: ignore[union-attr]
    }


def add_config_flags(
    parser: argparse.ArgumentParser, model: type[RetrainConfig | SweepConfig] = RetrainConfig
) -> None:
    """Add one flag per configuration field, with its description and default as help."""
    for section_name, section in model.model_fields.items():
        group = parser.add_argument_group(section.title or section_name.replace("_", " ").title())
        for name, field in section.annotation.model_fields.items():  # type: ignore[union-attr]
            group.add_argument(_flag(name), **_flag_options(name, field))


def _flag_options(name: str, field: Any) -> dict[str, Any]:
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
    return options


def config_from_args(
    args: argparse.Namespace, model: type[RetrainConfig | SweepConfig] = RetrainConfig
) -> Any:
    """Build the configuration from the flags the user gave; pydantic checks every value."""
    given = {name: getattr(args, name) for name in config_fields(model) if hasattr(args, name)}
    return model.from_flat(**given)


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad flag, its problem and the value given."""
    flags = config_fields(SweepConfig)
    problems = []
    for detail in error.errors():
        names = [str(part) for part in detail["loc"] if not isinstance(part, int)]
        field = names[-1] if names else ""
        flag = _flag(field) if field in flags else ".".join(str(p) for p in detail["loc"])
        given = detail.get("input")
        given = redacted(given) if isinstance(given, str) else given  # Never echo a password.
        problems.append(f"{flag}: {detail['msg']} (got {given!r})")
    return "; ".join(problems)


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """--json, --fail-if-not-promoted and --verbose: what scripts and schedulers need."""
    output = parser.add_argument_group("Output")
    output.add_argument(
        "--json",
        action="store_true",
        help="print the run summary as one JSON document on stdout (logs stay on stderr)",
    )
    output.add_argument(
        "--fail-if-not-promoted",
        action="store_true",
        help=f"exit with status {EXIT_NOT_PROMOTED} when the model is kept as challenger",
    )
    output.add_argument("--verbose", action="store_true", help="show Prefect's own logs in full")


def build_parser() -> argparse.ArgumentParser:
    """The ``retrain`` argument parser and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="retrain",
        description="Retrain Keras recurrent text classifiers with Prefect.",
        epilog=(
            "exit status: 0 done, 1 unexpected failure, 2 usage or configuration error, 3 bad "
            "data, 4 data gate stop, 5 service unavailable, 6 kept as challenger "
            "(--fail-if-not-promoted), 7 disk full, read-only folder or out of memory, "
            "130 interrupted"
        ),
    )
    parser.add_argument("--version", action="version", version=f"rnn-retrain {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run the retraining flow once, locally",
        description=(
            "Run ingest → tokenize → validate → pad → train → evaluate → register once, locally "
            "(Prefect ephemeral API, or the server at PREFECT_API_URL)."
        ),
    )
    add_config_flags(run)
    add_output_flags(run)
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
    add_output_flags(sweep)
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
    add_alert_commands(commands)
    add_gc_command(commands)
    add_model_commands(commands)
    add_serve_model_command(commands)
    add_score_command(commands)
    return parser


def serve_command(args: argparse.Namespace) -> int:
    """``retrain serve``: serve the deployments from this process (Prefect's ``serve``)."""
    from rnn_retrain.deployments.serve import serve_deployments

    require_prefect_server()
    load_tensorflow_quietly()
    serve_deployments()
    return EXIT_OK


def _import_retrain_flow() -> Callable[..., Any]:
    from rnn_retrain.flows.retrain import retrain

    return retrain


def _import_sweep_flow() -> Callable[..., Any]:
    from rnn_retrain.flows.sweep import sweep

    return sweep


def finish(summary: BaseModel, args: argparse.Namespace, print_text: Callable[[Any], None]) -> int:
    """Print the summary (text, or one JSON document) and choose the exit status."""
    if args.json:
        print(summary.model_dump_json(indent=2))
    else:
        print_text(summary)
    promoted = summary.registration.decision.promote  # type: ignore[attr-defined]
    return EXIT_NOT_PROMOTED if args.fail_if_not_promoted and not promoted else EXIT_OK


def run_flow(args: argparse.Namespace, config: Any, load: Callable[[], Any]) -> BaseModel:
    """Check the services the run needs, then run the flow with user errors kept to one line."""
    from rnn_retrain.data.sources import require_local_source
    from rnn_retrain.store.artifacts import ArtifactStore

    require_local_source(config.source.data)  # A missing file fails before any service starts.
    tracking_uri = config.registry.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    require_tracking_server(tracking_uri)
    server = require_prefect_server(required=False)
    ArtifactStore(config.registry.artifact_root)  # Created now: a path that cannot be fails here.
    flow = load_flow_while_api_starts(server is None, load, tracking_uri)
    if not args.verbose:
        hide_user_error_records()
    return flow(config)


def run_command(args: argparse.Namespace) -> int:
    """``retrain run``: validate the flags, run the flow, print the metrics."""
    from rnn_retrain.interface.report import print_summary

    config = config_from_args(args)
    return finish(run_flow(args, config, _import_retrain_flow), args, print_summary)


def sweep_command(args: argparse.Namespace) -> int:
    """``retrain sweep``: validate the flags, run the sweep flow, print the comparison."""
    from rnn_retrain.environment.services import require_dask_scheduler
    from rnn_retrain.interface.report import print_comparison
    from rnn_retrain.stages.select import candidate_configs

    config = config_from_args(args, SweepConfig)
    candidate_configs(config)  # A bad grid value fails here, in one line, before any work.
    if config.sweep.task_runner == "dask" and config.sweep.dask_address:
        require_dask_scheduler(config.sweep.dask_address)
    return finish(run_flow(args, config, _import_sweep_flow), args, print_comparison)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``retrain`` command."""
    args = build_parser().parse_args(argv)
    prepare_environment()
    exit_without_final_collection()
    try:
        return args.handler(args)
    except ValidationError as error:
        print(f"error: {describe_validation_error(error)}", file=sys.stderr)
        return EXIT_USAGE
    except RetrainError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        fault = describe_fault(error)
        if fault is None:
            raise  # A bug: the traceback is what a report needs.
        if getattr(args, "verbose", False):
            traceback.print_exc()
        print(f"error: {fault.message}", file=sys.stderr)
        return fault.exit_code


if __name__ == "__main__":
    sys.exit(main())
