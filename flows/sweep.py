"""The sweep flow: shared data stages, candidates trained in parallel, the best one gated.

ingest → tokenize → validate → pad, once; then train + evaluate for every candidate on the chosen
task runner (threads, or Dask worker processes); then the candidate with the lowest validation
loss goes through register's champion/challenger gate. A failed candidate is reported in the
comparison, and the sweep goes on with the others.
"""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict

from rnn_retrain.config import SweepConfig
from tasks.evaluate import evaluate
from tasks.ingest import ingest
from tasks.pad import pad
from tasks.register import RegisterResult, register
from tasks.runtime import task_runner_for
from tasks.select import (
    CandidateOutcome,
    await_outcome,
    candidate_configs,
    choose_best,
    comparison_rows,
    publish_comparison,
)
from tasks.tokenize import tokenize
from tasks.train import train
from tasks.validate import validate


class SweepSummary(BaseModel):
    """What a sweep returns: every candidate's outcome, the comparison, the registration."""

    model_config = ConfigDict(frozen=True)

    run_id: str | None
    config: SweepConfig
    outcomes: list[CandidateOutcome]
    comparison: list[dict]
    chosen: str
    registration: RegisterResult


@flow(name="sweep", description="Train several candidate models in parallel; gate the best.")
def sweep(config: SweepConfig = SweepConfig()) -> SweepSummary:
    """Prepare the data once, train and evaluate every candidate, register the best one."""
    base = config.base()
    candidates = candidate_configs(config)
    ingested = ingest(base)
    tokens = tokenize(ingested.snapshot, base)
    validated = validate(ingested.snapshot, tokens.vocabulary, base)
    padded = pad(tokens.token_ids, base)
    with task_runner_for(config, len(candidates)) as runner:
        futures = []
        for name, candidate in candidates:
            trained = runner.submit(
                train,
                {
                    "padded": padded,
                    "vocabulary_size": tokens.vocabulary_size,
                    "config": candidate,
                    "candidate": name,
                },
            )
            scored = runner.submit(
                evaluate,
                {"padded": padded, "trained": trained, "config": candidate, "candidate": name},
            )
            futures.append((trained, scored))
        outcomes = [
            await_outcome(name, candidate, trained, scored)
            for (name, candidate), (trained, scored) in zip(candidates, futures, strict=True)
        ]
    best = choose_best(outcomes)
    rows = publish_comparison(comparison_rows(outcomes, best))
    registered = register(
        ingested.snapshot,
        tokens.vocabulary,
        validated.profile,
        best.trained.model,
        best.trained.history,
        best.trained.length_buckets,
        best.evaluated.predictions,
        best.evaluated.metrics_table,
        best.evaluated.metrics,
        best.config,
    )
    return SweepSummary(
        run_id=flow_run.id,
        config=config,
        outcomes=outcomes,
        comparison=rows,
        chosen=best.name,
        registration=registered,
    )
