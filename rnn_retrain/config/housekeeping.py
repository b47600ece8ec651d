"""What `retrain gc` and the scheduled ``gc`` flow clean (`rnn_retrain.orchestration.housekeeping`
does the cleaning): its flags and the flow's parameters are these fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from rnn_retrain.config.secrets import Location
from rnn_retrain.config.sections import DEFAULT_MODEL_NAME


class GcSettings(BaseModel):
    """What `retrain gc` (and the scheduled ``gc`` flow) removes, and from where."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    older_than_days: float = Field(
        30.0,
        ge=0.0,
        description="Remove run folders (and a remote root's checkpoint archives) whose newest "
        "file is older than this.",
    )
    versions_older_than_days: float = Field(
        30.0,
        ge=0.0,
        description="Remove registered versions never promoted and older than this (with "
        "their MLflow runs).",
    )
    dry_run: bool = Field(False, description="Only list what would go, with its bytes.")
    artifact_root: Location = Field(
        "", description="The artifact root to clean. Empty means $RETRAIN_HOME/artifacts."
    )
    tracking_uri: Location = Field(
        "",
        description="MLflow tracking and registry URI. Empty means $MLFLOW_TRACKING_URI if "
        "set, else the SQLite store in $RETRAIN_HOME.",
    )
    model_name: str = Field(DEFAULT_MODEL_NAME, description="The registered model to clean.")
