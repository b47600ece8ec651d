"""Select: expand a sweep into candidates, compare their results, pick the one to register.

The winner is chosen on its *validation* loss (the held-out part of the train split), not on the
test split: the registry gate then judges it on test rows that played no part in the choice.
"""

from __future__ import annotations

import itertools
from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, ConfigDict, ValidationError

from rnn_retrain.config import RetrainConfig, SweepConfig
from rnn_retrain.errors import RetrainError
from tasks.evaluate import EvaluateResult
from tasks.runtime import COMPARISON_ARTIFACT_KEY
from tasks.train import TrainResult

GRIDS = {"units": "units_grid", "embedding_dim": "embedding_dim_grid", "dropout": "dropout_grid"}


class CandidateOutcome(BaseModel):
    """One candidate's configuration and what became of it."""

    model_config = ConfigDict(frozen=True)

    name: str
    config: RetrainConfig
    trained: TrainResult | None = None
    evaluated: EvaluateResult | None = None
    error: str | None = None


def candidate_name(config: RetrainConfig, varied: list[str]) -> str:
    """A short label: the cell, then each varied field's value (``gru units=64``)."""
    return " ".join([config.cell, *(f"{name}={getattr(config, name)}" for name in varied)])


def candidate_configs(sweep: SweepConfig) -> list[tuple[str, RetrainConfig]]:
    """Every (cell × grid values) candidate, validated like any retraining configuration.

    Raises:
        RetrainError: Naming the candidate and the field, if a grid value is out of range.
    """
    base = sweep.base().model_dump()
    base["training_threads"] = sweep.threads_per_candidate
    varied = [name for name, grid in GRIDS.items() if getattr(sweep, grid)]
    axes = [getattr(sweep, GRIDS[name]) for name in varied]
    candidates = []
    for cell, *values in itertools.product(sweep.cells, *axes):
        update = {"cell": cell, **dict(zip(varied, values, strict=True))}
        try:
            config = RetrainConfig(**{**base, **update})
        except ValidationError as error:
            detail = error.errors()[0]
            field = ".".join(str(part) for part in detail["loc"])
            label = " ".join(f"{key}={value}" for key, value in update.items())
            raise RetrainError(
                f"sweep candidate {label}: {field}: {detail['msg']} (got {detail['input']!r})"
            ) from None
        candidates.append((candidate_name(config, varied), config))
    return candidates


def await_outcome(name: str, config: RetrainConfig, trained: Any, scored: Any) -> CandidateOutcome:
    """Wait for a candidate's train and evaluate futures and say what became of it.

    A failure of either (an exception in the task, or a Dask worker that died running it and
    was not replaced in time: ``KilledWorker``) becomes the outcome's error instead of ending
    the sweep. Train's result is awaited first, so the error names the cause, not evaluate's
    missing input.
    """
    try:
        trained_result = trained.result()
        evaluated = scored.result()
    except Exception as error:  # Any candidate's failure is reported in the comparison.
        first_line = (str(error).strip().splitlines() or [""])[0]
        return CandidateOutcome(
            name=name, config=config, error=f"{type(error).__name__}: {first_line}".rstrip(": ")
        )
    return CandidateOutcome(name=name, config=config, trained=trained_result, evaluated=evaluated)


def choose_best(outcomes: list[CandidateOutcome]) -> CandidateOutcome:
    """The finished candidate with the lowest validation loss (ties: the earlier one)."""
    finished = [o for o in outcomes if o.trained is not None and o.evaluated is not None]
    if not finished:
        failures = "; ".join(f"{o.name}: {o.error}" for o in outcomes)
        raise RetrainError(f"every sweep candidate failed: {failures}")
    return min(finished, key=lambda outcome: outcome.trained.best_validation_loss)


def comparison_rows(outcomes: list[CandidateOutcome], best: CandidateOutcome) -> list[dict]:
    """One row per candidate: cell, parameters, test metrics, train time, and the outcome."""
    rows = []
    for outcome in outcomes:
        config = outcome.config
        row = {
            "candidate": outcome.name,
            "cell": config.cell,
            "params": f"units={config.units} embedding={config.embedding_dim} "
            f"dropout={config.dropout}",
        }
        if outcome.trained is not None and outcome.evaluated is not None:
            metrics = outcome.evaluated.metrics
            row |= {
                "val_loss": round(outcome.trained.best_validation_loss, 4),
                "accuracy": round(metrics["accuracy"], 4),
                "f1": round(metrics["f1"], 4),
                "roc_auc": None if metrics["roc_auc"] is None else round(metrics["roc_auc"], 4),
                "train_s": round(outcome.trained.seconds, 1),
                "outcome": "chosen" if outcome.name == best.name else "finished",
            }
        else:
            row |= dict.fromkeys(("val_loss", "accuracy", "f1", "roc_auc", "train_s"))
            row["outcome"] = f"failed: {outcome.error}"
        rows.append(row)
    return rows


@task(name="compare")
def publish_comparison(rows: list[dict]) -> list[dict]:
    """Publish the candidates' comparison table to the Prefect UI."""
    create_table_artifact(
        rows, key=COMPARISON_ARTIFACT_KEY, description="Sweep candidates, chosen on val_loss"
    )
    return rows
