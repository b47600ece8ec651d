"""The batch-scoring flow's parameter: which reviews, which model, where the predictions go.

One frozen model, like the retraining configuration (`rnn_retrain.config.sections`): it
validates the ``retrain score`` flags and draws the Prefect UI's run form of the ``score`` flow,
each field with its description. The fields most runs change come first.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rnn_retrain.config.secrets import Location
from rnn_retrain.config.sections import DEFAULT_MODEL_NAME

PREDICTIONS_SUFFIX = ".parquet"

# The drift limits, shared by batch scoring (`ScoreConfig`) and the source watcher
# (`rnn_retrain.stages.watch.WatchSettings`), which both judge new reviews with
# `rnn_retrain.stages.drift.drift_findings`.
MaxOovIncrease = Annotated[
    float,
    Field(
        ge=0.0,
        le=1.0,
        title="Drift: max OOV increase",
        description=(
            "Drift: most the out-of-vocabulary token rate of the new reviews may exceed the "
            "model's training data's before the data counts as drifted."
        ),
    ),
]
MaxPsi = Annotated[
    float,
    Field(
        ge=0.0,
        title="Drift: max PSI",
        description=(
            "Drift: most population stability index of the token lengths (against the training "
            "data's deciles) and of the scores (against the model's test scores' deciles); 0.1 "
            "is a minor shift, 0.25 a major one."
        ),
    ),
]
MaxClassShareChange = Annotated[
    float,
    Field(
        ge=0.0,
        le=1.0,
        title="Drift: max class share change",
        description=(
            "Drift: most any predicted class's share may differ from its share of the model's "
            "test predictions."
        ),
    ),
]


class ScoreConfig(BaseModel):
    """What to score, with which registered model, in chunks of how many rows, and where to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: Location = Field(
        description=(
            "The reviews to score: a Parquet or CSV file, a folder of them, or a glob such as "
            "'reviews/week-*.parquet', local or behind a pyarrow filesystem URI (s3://...)."
        ),
    )
    text_column: str = Field("text", description="Column holding the review text.")
    id_column: str = Field(
        "",
        description=(
            "Column that identifies each review, written to the predictions instead of the text. "
            "Empty: the predictions carry the text itself."
        ),
    )
    model_version: int | None = Field(
        None,
        ge=1,
        description="Registered version number to score with; when set, alias is not used.",
    )
    alias: str = Field(
        "champion",
        description="Registry alias to score with when no version is given: champion, challenger.",
    )
    chunk_rows: int = Field(
        20_000,
        ge=1,
        le=10_000_000,
        description=(
            "Most reviews read, scored and written at a time, so memory stays bounded whatever the "
            "input's size (each chunk's padded ids take chunk_rows x maxlen x 4 bytes)."
        ),
    )
    output: Location = Field(
        "",
        description=(
            "Where to write the predictions: a .parquet path or URI (its manifest goes beside it). "
            "Empty: <artifact_root>/runs/<flow run id>/score/predictions.parquet."
        ),
    )
    max_oov_increase: MaxOovIncrease = 0.05
    max_psi: MaxPsi = 0.25
    max_class_share_change: MaxClassShareChange = 0.15
    model_name: str = Field(
        DEFAULT_MODEL_NAME, description="Name of the registered model in the MLflow registry."
    )
    tracking_uri: Location = Field(
        "",
        title="Tracking URI",
        description=(
            "MLflow tracking and registry URI. Empty means $MLFLOW_TRACKING_URI if set, else the "
            "SQLite store in $RETRAIN_HOME."
        ),
    )
    artifact_root: Location = Field(
        "",
        description=(
            "Where run artifacts go: a local folder or a pyarrow filesystem URI. Empty means "
            "$RETRAIN_HOME/artifacts."
        ),
    )

    @field_validator("input", "text_column", "alias", "model_name")
    @classmethod
    def _required(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("output")
    @classmethod
    def _parquet_output(cls, value: str) -> str:
        if value and not value.lower().endswith(PREDICTIONS_SUFFIX):
            raise ValueError(f"must be a path ending in {PREDICTIONS_SUFFIX}")
        return value

    def model_choice(self) -> dict[str, str]:
        """The registry look-up this configuration asks for: by version, else by alias."""
        if self.model_version is not None:
            return {"version": str(self.model_version)}
        return {"alias": self.alias}
