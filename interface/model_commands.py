"""``retrain predict`` and ``retrain models ...``: use and inspect the registered models."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from rnn_retrain.config.sections import DEFAULT_MODEL_NAME
from rnn_retrain.environment.quiet import load_tensorflow_quietly
from rnn_retrain.errors import RetrainError
from rnn_retrain.interface.console import output_console

# pyarrow and the model's serving code are imported by the commands that use them: `retrain
# --help` and the registry listings do without (tests/test_cli.py keeps it so).
if TYPE_CHECKING:
    import pyarrow as pa

# `retrain predict --file` reads its file in chunks of this many rows, then holds them all.
PREDICT_FILE_CHUNK_ROWS = 100_000


def add_registry_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that pick the registered model and the store it lives in."""
    parser.add_argument(
        "--model-name",
        default=DEFAULT_MODEL_NAME,
        help="registered model name (default: %(default)s)",
    )
    parser.add_argument(
        "--tracking-uri",
        default="",
        help="MLflow tracking/registry URI (default: $MLFLOW_TRACKING_URI, else SQLite in $RETRAIN_HOME)",
    )


def add_model_choice_flags(parser: argparse.ArgumentParser) -> None:
    """--model-version N or --alias NAME; the champion when neither is given."""
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--model-version", metavar="N", help="a version number")
    choice.add_argument(
        "--alias", help="an alias such as champion or challenger (default: champion)"
    )


def _registry(args: argparse.Namespace):
    from rnn_retrain.registry.versions import ModelRegistry

    return ModelRegistry(args.tracking_uri, args.model_name)


def _chosen(args: argparse.Namespace) -> dict[str, str | None]:
    if args.model_version is not None:
        return {"version": args.model_version}
    return {"alias": args.alias or "champion"}


def read_review_texts(args: argparse.Namespace) -> tuple[pa.Table, str]:
    """The reviews to score, from the command line or a Parquet/CSV file, checked for content."""
    if args.texts and args.file:
        raise RetrainError("give review texts or --file, not both")
    # The same reading, checks and scoring as `retrain score` (imported on use: pyarrow's
    # dataset and CSV readers are not needed by the other commands).
    import pyarrow as pa

    from rnn_retrain.stages.score import first_blank, read_input_chunks, resolve_input

    if args.file:
        # Unlike `retrain score`, this command holds the whole file (it prints or writes it).
        origin, column = args.file, args.text_column
        chunks = list(read_input_chunks(resolve_input(origin), column, PREDICT_FILE_CHUNK_ROWS))
        table = (
            pa.concat_tables(chunks) if chunks else pa.table({column: pa.array([], pa.string())})
        )
    elif args.texts:
        table, origin, column = pa.table({"text": args.texts}), "command line", "text"
    else:
        raise RetrainError("nothing to score: give review texts, or --file reviews.parquet|csv")
    if table.num_rows == 0:
        raise RetrainError(f"{origin}: no reviews to score")
    if (blank := first_blank(table[column])) is not None:
        raise RetrainError(f"{origin}: review {blank + 1} is empty; remove it or give it text")
    return table, column


def write_scores(table: pa.Table, path: str) -> None:
    """Write scores to Parquet (or CSV for a .csv path) under a temporary name, then rename."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from rnn_retrain.store.atomic import replace_atomically

    target = Path(path)
    if not target.parent.exists():
        raise RetrainError(f"--out {path}: folder {target.parent} does not exist")
    with replace_atomically(target) as temporary:
        if target.suffix.lower() == ".csv":
            pacsv.write_csv(table, temporary)
        else:
            pq.write_table(table, temporary)


def load_baseline(registry: Any, version: str) -> Any:
    """The bag-of-words baseline logged with a version, rebuilt from its plain-data files."""
    import tempfile

    import pyarrow.parquet as pq

    from rnn_retrain.registry.files import download_baseline
    from rnn_retrain.stages.baseline import rebuild_baseline

    with tempfile.TemporaryDirectory() as directory:
        folder = download_baseline(registry, version, directory)
        terms = pq.read_table(folder / "terms.parquet")
        document = json.loads((folder / "model.json").read_text())
    return rebuild_baseline(terms, document)


def add_baseline_scores(
    scored: pa.Table, column: str, baseline: Any, classes: list[str]
) -> pa.Table:
    """``scored`` with the baseline's ``baseline_probability`` and ``baseline_prediction``
    (and, for K classes, ``baseline_label``: the predicted class's name)."""
    from rnn_retrain.model.serving import CLASS_PROBABILITY_PREFIX
    from rnn_retrain.stages.score import answer_columns

    for name, values in answer_columns(baseline.scores(scored[column]), classes).items():
        if not name.startswith(CLASS_PROBABILITY_PREFIX):
            scored = scored.append_column(f"baseline_{name}", values)
    return scored


def _label(scored: pa.Table, prefix: str, index: int, classes: list[str]) -> str:
    """Row ``index``'s predicted class name: K classes name it; two go by the threshold."""
    from rnn_retrain.model.serving import THRESHOLD

    if f"{prefix}label" in scored.column_names:
        return scored[f"{prefix}label"][index].as_py()
    return classes[int(scored[f"{prefix}probability"][index].as_py() >= THRESHOLD)]


def predict_command(args: argparse.Namespace) -> int:
    """Score reviews with a registered model (the champion by default), and its baseline."""
    from rnn_retrain.model.serving import BULK_LOADING

    table, column = read_review_texts(args)
    load_tensorflow_quietly()
    registry = _registry(args)
    chosen = registry.get_version(**_chosen(args))
    model = registry.load(version=chosen.version, model_config=BULK_LOADING)
    # With MLflow, after the cheap checks above.
    from rnn_retrain.model.package import model_classes, predict_reviews
    from rnn_retrain.stages.score import score_table

    classes = model_classes(model)
    scored = score_table(table, column, lambda texts: predict_reviews(model, texts), classes)
    if args.baseline:
        baseline = load_baseline(registry, str(chosen.version))
        scored = add_baseline_scores(scored, column, baseline, classes)
    console = output_console()
    if args.out:
        write_scores(scored, args.out)
        console.print(
            f"scored {scored.num_rows} reviews with {args.model_name} v{chosen.version} → {args.out}"
        )
        return 0
    result = Table(title=f"{args.model_name} v{chosen.version}")
    names = ["probability", "label"]
    names += ["baseline probability", "baseline label"] if args.baseline else []
    for name in [*names, "review"]:
        result.add_column(name, justify="right" if name.endswith("probability") else "left")
    for index, text in enumerate(table[column].to_pylist()):
        cells = []
        for prefix in ("", "baseline_")[: 2 if args.baseline else 1]:
            probability = scored[f"{prefix}probability"][index].as_py()
            cells += [f"{probability:.4f}", _label(scored, prefix, index, classes)]
        result.add_row(*cells, text if len(text) <= 70 else text[:67] + "...")
    console.print(result)
    return 0


def version_record(version: Any, aliases: list[str]) -> dict[str, Any]:
    """One registered version as a JSON-ready record: number, aliases, source, run and tags."""
    return {
        "version": str(version.version),
        "aliases": sorted(aliases),
        "created_at": datetime.fromtimestamp(
            version.creation_timestamp / 1000, timezone.utc
        ).isoformat(),
        "source": version.source,
        "mlflow_run_id": version.run_id,
        "tags": dict(version.tags),
    }


def print_json(document: Any) -> None:
    """One JSON document on stdout (logs stay on stderr), for scripts."""
    print(json.dumps(document, indent=2, default=str))


def list_command(args: argparse.Namespace) -> int:
    """``retrain models list``: every version with its aliases, metrics and gate decision."""
    registry = _registry(args)
    versions = registry.versions()
    if args.json:
        # A script asking "which versions are there?" gets an empty list, not an error, as
        # `kubectl get -o json` and MLflow's own searches answer.
        aliases = registry.aliases() if versions else {}
        print_json(
            {
                "model_name": args.model_name,
                "tracking_uri": registry.tracking_uri,
                "versions": [
                    version_record(version, aliases.get(str(version.version), []))
                    for version in versions
                ],
            }
        )
        return 0
    if not versions:
        raise RetrainError(
            f"model {args.model_name!r} has no versions yet; run `retrain run` first"
        )
    table = Table(title=f"{args.model_name} ({registry.tracking_uri})")
    for name in ("version", "aliases", "created (UTC)", "accuracy", "f1", "gate", "reason"):
        table.add_column(name)
    aliases = registry.aliases()
    for version in versions:
        tags = version.tags
        created = datetime.fromtimestamp(version.creation_timestamp / 1000, timezone.utc)
        table.add_row(
            str(version.version),
            ", ".join(sorted(aliases.get(str(version.version), []))),
            created.strftime("%Y-%m-%d %H:%M:%S"),
            _short(tags.get("test.accuracy")),
            _short(tags.get("test.f1", tags.get("test.f1_macro"))),
            tags.get("gate.decision", "pending"),
            tags.get("gate.reason", ""),
        )
    output_console().print(table)
    return 0


def show_command(args: argparse.Namespace) -> int:
    """``retrain models show``: one version's aliases, metrics, gate decision and lineage."""
    registry = _registry(args)
    version = registry.get_version(**_chosen(args))
    if args.json:
        print_json({"model_name": args.model_name, **version_record(version, version.aliases)})
        return 0
    console = output_console()
    console.print(
        f"[bold]{args.model_name} v{version.version}[/bold]  "
        f"aliases: {', '.join(sorted(version.aliases)) or '-'}"
    )
    console.print(f"source: {version.source}\nmlflow run: {version.run_id}")
    table = Table(show_header=True)
    table.add_column("tag")
    table.add_column("value", overflow="fold")
    for key, value in sorted(version.tags.items()):
        if key == "config":
            value = json.dumps(json.loads(value), indent=1)
        table.add_row(key, value)
    console.print(table)
    return 0


def history_command(args: argparse.Namespace) -> int:
    """``retrain models history``: every move of champion, or the version serving at --at."""
    from rnn_retrain.registry.champion import ChampionHistory

    registry = _registry(args)
    if args.at:
        try:
            when = datetime.fromisoformat(args.at)
        except ValueError:
            raise RetrainError(
                f"--at {args.at!r}: not an ISO date/time such as 2026-11-28T09:00"
            ) from None
        when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        move = ChampionHistory(registry).at(when)
        if move is None:
            raise RetrainError(f"model {args.model_name!r} had no champion at {when.isoformat()}")
        output_console().print(
            f"v{move.version} was champion at {when.isoformat()} (since {move.at}: {move.reason})"
        )
        return 0
    moves = ChampionHistory(registry).moves()
    if not moves:
        raise RetrainError(f"model {args.model_name!r} has never had a champion")
    table = Table(title=f"{args.model_name}: champion history")
    for name in ("at (UTC)", "version", "previous", "kind", "flow run", "reason"):
        table.add_column(name)
    for move in moves:
        table.add_row(
            move.at,
            move.version,
            move.previous_version or "-",
            move.kind,
            move.flow_run_id or "-",
            move.reason,
        )
    output_console().print(table)
    return 0


def rollback_command(args: argparse.Namespace) -> int:
    """``retrain models rollback``: put the previous champion back."""
    from rnn_retrain.registry.champion import ChampionHistory

    move = ChampionHistory(_registry(args)).rollback(reason=args.reason)
    output_console().print(f"champion: v{move.previous_version} → v{move.version} ({move.reason})")
    return 0


def _short(value: str | None) -> str:
    return "-" if value in (None, "", "None") else f"{float(value):.4f}"


def add_model_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``predict`` and ``models`` with the top-level parser."""
    predict = commands.add_parser("predict", help="score reviews with a registered model")
    predict.add_argument("texts", nargs="*", metavar="REVIEW", help="review texts to score")
    predict.add_argument("--file", help="a Parquet or CSV file of reviews to score")
    predict.add_argument(
        "--text-column", default="text", help="text column of --file (default: %(default)s)"
    )
    predict.add_argument("--out", help="write the scores here (.parquet, or .csv)")
    predict.add_argument(
        "--baseline",
        action="store_true",
        help="also score with the bag-of-words baseline logged with the version",
    )
    add_model_choice_flags(predict)
    add_registry_flags(predict)
    predict.set_defaults(handler=predict_command)

    models = commands.add_parser("models", help="list, show, roll back registered models")
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="every version with aliases, metrics and gate decision"
    )
    listing.set_defaults(handler=list_command)
    show = actions.add_parser("show", help="one version's metrics, decision and lineage")
    add_model_choice_flags(show)
    show.set_defaults(handler=show_command)
    history = actions.add_parser("history", help="every move of the champion alias")
    history.add_argument("--at", help="print the version that was champion at this ISO time")
    history.set_defaults(handler=history_command)
    rollback = actions.add_parser("rollback", help="put the previous champion back")
    rollback.add_argument(
        "--reason", default="rollback requested from the CLI", help="recorded with the move"
    )
    rollback.set_defaults(handler=rollback_command)
    for parser in (listing, show, history, rollback):
        add_registry_flags(parser)
    for parser in (listing, show):
        parser.add_argument(
            "--json", action="store_true", help="print one JSON document on stdout instead"
        )
