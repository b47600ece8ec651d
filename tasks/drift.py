"""Drift reports: how new reviews differ from a registered model's data (`rnn_retrain.stages.drift`).

Two runs make them, with the same figures and limits: batch scoring, for the reviews it scores
(`tasks.score`), and the source watcher, for the files that changed in a training source
(`source_drift`, with ``drift`` on). Either stores the report under its run in the artifact
store, shows it as the table artifact ``retrain-drift-report``, and emits
``rnn-retrain.data.drifted`` when a figure is above its limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from rnn_retrain.data.sources import source_files
from rnn_retrain.environment.quiet import load_tensorflow_quietly
from rnn_retrain.errors import DataError
from rnn_retrain.orchestration.events import emit_data_drifted
from rnn_retrain.orchestration.runtime import RETRY_SETTINGS, current_run_id
from rnn_retrain.stages.drift import (
    DriftCounter,
    drift_findings,
    drift_reference,
    drifted,
    findings_table,
)
from rnn_retrain.stages.results import Finding, WatchResult
from rnn_retrain.stages.score import read_input_chunks
from rnn_retrain.stages.watch import WatchSettings
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore

if TYPE_CHECKING:
    from rnn_retrain.registry import ModelRegistry

DRIFT_ARTIFACT_KEY = "retrain-drift-report"
# Reviews scored at a time by the watcher (as batch scoring's default chunk_rows).
WATCH_CHUNK_ROWS = 20_000


def drift_counter(registry: ModelRegistry, run_id: str, classes: list[str]) -> DriftCounter | None:
    """A counter of new reviews against the reference of the version logged by ``run_id``
    (its data profile and test predictions); None for a version without one."""
    profile = registry.data_profile(run_id)
    predictions = registry.test_predictions(run_id)
    if profile is None or predictions is None:
        return None
    return DriftCounter(drift_reference(profile, predictions, len(classes)), len(classes))


def report_drift(
    store: ArtifactStore,
    stage: str,
    model_name: str,
    version: str,
    rows: int,
    findings: list[Finding],
    what: str,
) -> ArtifactRef:
    """Store the drift report of ``rows`` reviews (``what``: "1,000 scored reviews") under this
    run's ``stage``, show it in the UI, and emit ``rnn-retrain.data.drifted`` when a figure is
    above its limit. Returns the stored report."""
    table = findings_table(findings)
    params = {"model_name": model_name, "model_version": version}
    report = store.write_table(current_run_id(), stage, "drift", table, params)
    checks = drifted(findings)
    create_table_artifact(
        table.to_pylist(),
        key=DRIFT_ARTIFACT_KEY,
        description=(
            f"Drift of {what} from {model_name} v{version}'s data: {', '.join(checks) or 'none'}"
        ),
    )
    logger = get_run_logger()
    if checks:
        logger.warning("Drift of %s from v%s's data: %s", what, version, ", ".join(checks))
        emit_data_drifted(model_name, version, rows, findings, report)
    else:
        logger.info("No drift of %s from v%s's data", what, version)
    return report


def file_locations(source: str, paths: list[str]) -> list[str]:
    """The watcher's paths (a file system's own, as listed) as locations that can be opened."""
    if "://" not in source:
        return paths
    scheme = source.split("://", 1)[0]
    return [f"{scheme}://{path}" for path in paths]


@task(name="source-drift", **RETRY_SETTINGS)
def source_drift(settings: WatchSettings, looked: WatchResult) -> WatchResult:
    """Score the source's new and changed files with the champion and report their drift.

    Advisory: without a champion, a training profile, or with a file that cannot be scored, it
    logs why and returns ``looked`` as it was; the change itself was reported already.
    """
    # MLflow and TensorFlow load only for a look that found a change.
    from rnn_retrain.model.package import model_classes, predict_reviews
    from rnn_retrain.model.serving import BULK_LOADING
    from rnn_retrain.registry import ModelRegistry

    logger = get_run_logger()
    registry = ModelRegistry(settings.tracking_uri, settings.model_name)
    champion = registry.champion()
    if champion is None:
        logger.warning("%s has no champion yet: no drift report", settings.model_name)
        return looked
    version = str(champion.version)
    load_tensorflow_quietly()
    model = registry.load(version=version, model_config=BULK_LOADING)
    counter = drift_counter(registry, champion.run_id, model_classes(model))
    if counter is None:
        logger.warning(
            "%s v%s has no training profile or test predictions: no drift report",
            settings.model_name,
            version,
        )
        return looked
    source_files(settings.source)  # The source is reachable: a missing one fails in one line.
    files = file_locations(settings.source, looked.changed)
    try:
        for chunk in read_input_chunks(files, settings.text_column, WATCH_CHUNK_ROWS):
            texts = chunk[settings.text_column].to_pylist()
            counter.add(texts, np.asarray(predict_reviews(model, texts), dtype=np.float64))
    except DataError as error:
        logger.warning("No drift report: %s", error)
        return looked
    rows = sum(len(lengths) for lengths in counter.lengths)
    findings = drift_findings(counter, settings)
    what = f"{rows:,} reviews in {len(files)} new or changed files of {settings.source}"
    store = ArtifactStore(settings.artifact_root)
    report = report_drift(store, "watch", settings.model_name, version, rows, findings, what)
    return looked.model_copy(update={"drift": findings, "drift_report": report})
