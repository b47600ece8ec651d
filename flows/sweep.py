"""The sweep flow: shared data stages, candidates trained in parallel, the best one gated.

prepare_data once; then train + evaluate for every candidate on the chosen task runner
(threads, or Dask worker processes); then the candidate with the lowest validation loss goes
through register's champion/challenger gate. A failed candidate is reported in the comparison,
and the sweep goes on with the others.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from rnn_retrain.config.retrain import RetrainConfig, SweepConfig
from rnn_retrain.flows.prepare import prepare_data
from rnn_retrain.flows.steps import gate, open_run, start_baseline
from rnn_retrain.orchestration.events import report_failed_run
from rnn_retrain.orchestration.runs import current_run_id
from rnn_retrain.orchestration.task_runners import task_runner_for
from rnn_retrain.results import CandidateOutcome, SweepSummary
from rnn_retrain.stages.select import (
    candidate_configs,
    describe_failure,
)
from rnn_retrain.tasks.evaluate import evaluate
from rnn_retrain.tasks.select import select
from rnn_retrain.tasks.train import train


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
        return CandidateOutcome(name=name, config=config, error=describe_failure(error))
    return CandidateOutcome(name=name, config=config, trained=trained_result, evaluated=evaluated)


@flow(
    name="sweep",
    description="Train several candidate models in parallel; gate the best.",
    on_failure=[report_failed_run],
    on_crashed=[report_failed_run],
)
def sweep(config: SweepConfig = SweepConfig()) -> SweepSummary:
    """Prepare the data once, train and evaluate every candidate, register the best one."""
    config = open_run(config)
    base = config.base()
    if base.training.warm_start == "champion":
        # Candidates differ in architecture from the champion by design: none could start warm.
        get_run_logger().warning("warm_start is ignored by a sweep: every candidate starts cold")
    candidates = candidate_configs(config)
    prepared = prepare_data(base)
    # One baseline for all candidates, fitted in a thread of the flow's own runner meanwhile.
    fitting = start_baseline(prepared, base)
    with task_runner_for(config.sweep, len(candidates)) as runner:
        futures = []
        for name, candidate in candidates:
            trained = runner.submit(
                train,
                {
                    "padded": prepared.padded,
                    "vocabulary_size": prepared.tokens.vocabulary_size,
                    "config": candidate,
                    "candidate": name,
                    "classes": prepared.ingested.classes,
                },
            )
            scored = runner.submit(
                evaluate,
                {
                    "padded": prepared.padded,
                    "trained": trained,
                    "config": candidate,
                    "candidate": name,
                },
            )
            futures.append((trained, scored))
        outcomes = [
            await_outcome(name, candidate, trained, scored)
            for (name, candidate), (trained, scored) in zip(candidates, futures, strict=True)
        ]
    best, rows = select(outcomes)
    registered, compared = gate(prepared, best.trained, best.evaluated, best.config, fitting)
    return SweepSummary(
        run_id=current_run_id(),
        config=config,
        outcomes=outcomes,
        comparison=rows,
        chosen=best.name,
        registration=registered,
        baseline=compared,
    )
