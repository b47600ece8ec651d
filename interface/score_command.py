"""``retrain score``: batch-score Parquet or CSV files with a registered model, as a flow run."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from rnn_retrain.config.scoring import ScoreConfig
from rnn_retrain.errors import EXIT_OK, RetrainError
from rnn_retrain.interface.console import output_console
from rnn_retrain.interface.flow_start import hide_user_error_records, load_flow_while_api_starts
from rnn_retrain.interface.model_commands import add_registry_flags, print_json

# Flags whose names differ from their configuration field's.
FLAG_OF_FIELD = {"input": "INPUT", "output": "--out"}


def _import_score_flow() -> Callable[..., Any]:
    from rnn_retrain.flows.score import score

    return score


def score_config_from_args(args: argparse.Namespace) -> ScoreConfig:
    """The flow's parameter from the flags given; a bad value is one line naming its flag."""
    names = {field: field for field in ScoreConfig.model_fields} | {"output": "out"}
    given = {field: getattr(args, name) for field, name in names.items() if hasattr(args, name)}
    try:
        return ScoreConfig(**given)
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            field = str(detail["loc"][0]) if detail["loc"] else ""
            flag = FLAG_OF_FIELD.get(field, "--" + field.replace("_", "-"))
            problems.append(f"{flag}: {detail['msg']} (got {detail.get('input')!r})")
        raise RetrainError("; ".join(problems)) from None


def score_command(args: argparse.Namespace) -> int:
    """Run the ``score`` flow (Prefect's ephemeral API, or the server at PREFECT_API_URL)."""
    from rnn_retrain.environment.services import require_prefect_server, require_tracking_server
    from rnn_retrain.store.artifacts import ArtifactStore

    config = score_config_from_args(args)
    tracking_uri = config.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    require_tracking_server(tracking_uri)
    server = require_prefect_server(required=False)
    ArtifactStore(config.artifact_root)  # Created now: a path that cannot be fails here.
    flow = load_flow_while_api_starts(server is None, _import_score_flow, tracking_uri)
    if not args.verbose:
        hide_user_error_records()
    result = flow(config)
    if args.json:
        print_json(result.model_dump(mode="json"))
    else:
        output_console().print(
            f"scored {result.rows} reviews from {len(result.inputs)} file(s) with "
            f"{result.model_name} v{result.model_version} → {result.predictions.uri}"
        )
        if result.drift is not None:
            from rnn_retrain.stages.drift import drifted

            checks = ", ".join(drifted(result.drift)) or "none"
            print(
                f"drift from v{result.model_version}'s data: {checks} "
                f"(report {result.drift_report.uri})"
            )
    return EXIT_OK


def add_score_command(commands: argparse._SubParsersAction) -> None:
    """Register ``score`` with the top-level parser."""
    score = commands.add_parser(
        "score",
        help="score Parquet or CSV files of reviews with a registered model (a flow run)",
        description=(
            "Run the score flow once (Prefect ephemeral API, or the server at PREFECT_API_URL): "
            "read the reviews in chunks, score them with the champion (or --model-version or "
            "--alias) and write a predictions Parquet through the artifact store, its manifest "
            "recording the model version and the input's sha256."
        ),
    )
    fields = ScoreConfig.model_fields
    # Unset flags stay out of the namespace, so ScoreConfig's defaults apply.
    keep = argparse.SUPPRESS
    score.add_argument("input", metavar="INPUT", help=fields["input"].description)
    score.add_argument("--text-column", default=keep, help=fields["text_column"].description)
    score.add_argument("--id-column", default=keep, help=fields["id_column"].description)
    choice = score.add_mutually_exclusive_group()
    choice.add_argument(
        "--model-version",
        default=keep,
        metavar="N",
        help=fields["model_version"].description,
    )
    choice.add_argument(
        "--alias", default=keep, metavar="NAME", help="registry alias (default: champion)"
    )
    score.add_argument(
        "--chunk-rows",
        default=keep,
        metavar="N",
        help=f"{fields['chunk_rows'].description} (default: {fields['chunk_rows'].default})",
    )
    score.add_argument("--out", default=keep, metavar="PATH", help=fields["output"].description)
    for name in ("max_oov_increase", "max_psi", "max_class_share_change"):
        score.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=float,
            default=keep,
            metavar="X",
            help=f"{fields[name].description} (default: {fields[name].default})",
        )
    score.add_argument("--artifact-root", default=keep, help=fields["artifact_root"].description)
    add_registry_flags(score)
    score.add_argument(
        "--json", action="store_true", help="print the result as one JSON document on stdout"
    )
    score.add_argument("--verbose", action="store_true", help="show Prefect's own logs in full")
    score.set_defaults(handler=score_command)
