"""Select's logic: expand a sweep into candidates, compare their results, pick the one to register.

The winner is chosen on its *validation* loss (the held-out part of the train split), not on the
test split: the registry gate then judges it on test rows that played no part in the choice.
"""

from __future__ import annotations

import itertools

from pydantic import ValidationError

from rnn_retrain.config.retrain import RetrainConfig, SweepConfig
from rnn_retrain.data.labels import headline_f1
from rnn_retrain.errors import RetrainError
from rnn_retrain.results import CandidateOutcome

# Each grid of the sweep section, by the model field it varies.
GRIDS = {"units": "units_grid", "embedding_dim": "embedding_dim_grid", "dropout": "dropout_grid"}


def candidate_name(config: RetrainConfig, varied: list[str]) -> str:
    """A short label: the cell, then each varied field's value (``gru units=64``)."""
    model = config.model
    return " ".join([model.cell, *(f"{name}={getattr(model, name)}" for name in varied)])


def candidate_configs(sweep: SweepConfig) -> list[tuple[str, RetrainConfig]]:
    """Every (cell × grid values) candidate, validated like any retraining configuration.

    Raises:
        RetrainError: Naming the candidate and the field, if a grid value is out of range.
    """
    base = sweep.base().model_dump()
    base["training"]["training_threads"] = sweep.sweep.threads_per_candidate
    varied = [name for name, grid in GRIDS.items() if getattr(sweep.sweep, grid)]
    axes = [getattr(sweep.sweep, GRIDS[name]) for name in varied]
    candidates = []
    for cell, *values in itertools.product(sweep.sweep.cells, *axes):
        update = {"cell": cell, **dict(zip(varied, values, strict=True))}
        try:
            config = RetrainConfig.model_validate({**base, "model": {**base["model"], **update}})
        except ValidationError as error:
            detail = error.errors()[0]
            field = str(detail["loc"][-1])
            label = " ".join(f"{key}={value}" for key, value in update.items())
            raise RetrainError(
                f"sweep candidate {label}: {field}: {detail['msg']} (got {detail['input']!r})"
            ) from None
        candidates.append((candidate_name(config, varied), config))
    return candidates


def describe_failure(error: BaseException) -> str:
    """A failed candidate's error in one line: its type and first line."""
    first_line = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first_line}".rstrip(": ")


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
        model = outcome.config.model
        row = {
            "candidate": outcome.name,
            "cell": model.cell,
            "params": f"units={model.units} embedding={model.embedding_dim} "
            f"dropout={model.dropout}",
        }
        if outcome.trained is not None and outcome.evaluated is not None:
            metrics = outcome.evaluated.metrics
            auc = metrics.get("roc_auc", metrics.get("roc_auc_ovr"))
            row |= {
                "val_loss": round(outcome.trained.best_validation_loss, 4),
                "accuracy": round(metrics["accuracy"], 4),
                "f1": round(headline_f1(metrics) or 0.0, 4),
                "roc_auc": None if auc is None else round(auc, 4),
                "train_s": round(outcome.trained.seconds, 1),
                "outcome": "chosen" if outcome.name == best.name else "finished",
            }
        else:
            row |= dict.fromkeys(("val_loss", "accuracy", "f1", "roc_auc", "train_s"))
            row["outcome"] = f"failed: {outcome.error}"
        rows.append(row)
    return rows
