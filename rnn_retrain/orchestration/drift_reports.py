"""Drift reports: how new reviews differ from a registered model's data (`stages.drift`).

Two runs make them, with the same figures and limits: batch scoring, for the reviews it scores
(`rnn_retrain.tasks.score`), and the source watcher, for the files that changed in a training source
(`rnn_retrain.tasks.watch.source_drift`, with ``drift`` on). Either stores the report under its run in the
artifact store, shows it as the table artifact ``retrain-drift-report``, and emits
``rnn-retrain.data.drifted`` when a figure is above its limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect import get_run_logger
from prefect.artifacts import create_table_artifact

from rnn_retrain.orchestration.events import emit_data_drifted
from rnn_retrain.orchestration.runs import current_run_id
from rnn_retrain.results import Finding
from rnn_retrain.stages.drift import DriftCounter, drift_reference, drifted, findings_table
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore

if TYPE_CHECKING:
    from rnn_retrain.registry.versions import ModelRegistry

DRIFT_ARTIFACT_KEY = "retrain-drift-report"


def drift_counter(
    registry: ModelRegistry, version: str, run_id: str, classes: list[str]
) -> DriftCounter | None:
    """A counter of new reviews against the reference of ``version``, logged by ``run_id`` (its
    data profile and test predictions); None, said in the run log, for a version without one."""
    from rnn_retrain.registry.files import data_profile, test_predictions

    profile = data_profile(registry, run_id)
    predictions = test_predictions(registry, run_id)
    if profile is None or predictions is None:
        get_run_logger().warning(
            "%s v%s has no training profile or test predictions: no drift report",
            registry.model_name,
            version,
        )
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
