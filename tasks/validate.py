"""The validate task: the data gate before training (`rnn_retrain.stages.validate`)."""

from __future__ import annotations

import pyarrow as pa
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.errors import DataGateError
from rnn_retrain.orchestration.caching import cached_stage
from rnn_retrain.orchestration.events import emit_data_gate_stopped
from rnn_retrain.orchestration.runs import current_run_id, store_for
from rnn_retrain.orchestration.ui_artifacts import DATA_GATE_ARTIFACT_KEY
from rnn_retrain.registry.files import champion_data_profile
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.results import ValidationResult
from rnn_retrain.stages.validate import (
    CONFIG,
    check_data,
    combine_stats,
    describe_failure,
    has_errors,
    measure_chunk,
    profile_data,
    render_findings,
)
from rnn_retrain.store.artifacts import ArtifactRef
from rnn_retrain.store.chunks import read_chunks


def champion_fingerprint(config: RetrainConfig) -> str:
    """The champion the drift checks compare with, for the stage cache."""
    champion = ModelRegistry(config.registry.tracking_uri, config.registry.model_name).champion()
    return "none" if champion is None else f"{champion.version}:{champion.run_id}"


@task(
    **cached_stage(
        "validate", CONFIG, fingerprint=champion_fingerprint, fingerprint_name="champion"
    )
)
def validate(
    snapshot: ArtifactRef, vocabulary: ArtifactRef, config: RetrainConfig
) -> ValidationResult:
    """Check the snapshot; stop the run on a hard violation, else write this run's data profile.

    The snapshot is read ``chunk_rows`` rows at a time; what the checks keep is a few bytes a row.
    """
    store = store_for(config)
    own_vocabulary = store.read_table(vocabulary)
    registry = ModelRegistry(config.registry.tracking_uri, config.registry.model_name)
    champion_profile = champion_data_profile(registry)
    champion_vocabulary = (
        None if champion_profile is None else pa.array(champion_profile["vocabulary"], pa.string())
    )
    with store.open_parquet(snapshot) as parquet:
        chunks = read_chunks(parquet, ["text", "label", "split"], config.source.chunk_rows)
        stats = combine_stats(
            [
                measure_chunk(chunk, own_vocabulary["token"].combine_chunks(), champion_vocabulary)
                for chunk in chunks
            ]
        )
    findings = check_data(stats, champion_profile, config.data_gate, config.text.maxlen)
    create_markdown_artifact(
        render_findings(findings), key=DATA_GATE_ARTIFACT_KEY, description="Data gate findings"
    )
    logger = get_run_logger()
    for finding in findings:
        if finding.severity in ("warning", "error"):
            logger.warning("Data gate %s: %s: %s", finding.severity, finding.check, finding.message)
    if has_errors(findings):
        message = describe_failure(findings)
        errors = [finding.model_dump() for finding in findings if finding.severity == "error"]
        emit_data_gate_stopped(config.registry.model_name, message, errors)
        raise DataGateError(message)
    profile = profile_data(stats, own_vocabulary)
    ref = store.write_json(
        current_run_id(), "validate", "data_profile", profile, CONFIG.values(config)
    )
    return ValidationResult(findings=findings, profile=ref)
