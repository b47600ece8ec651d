"""Each stage declares the configuration fields it reads (its `ConfigSlice`), and reads no other.

The slice feeds the stage's cache key and its manifests, so a field read but not declared would
change a stage's output without changing its key: a stale cache hit. This test records every
read of a configuration field during real runs, with the task that made it, and compares.
"""

from __future__ import annotations

import pytest
from prefect.context import TaskRunContext

from rnn_retrain.config.retrain import SECTION_MODELS, RetrainConfig
from rnn_retrain.flows.retrain import retrain
from rnn_retrain.stages import (
    baseline,
    evaluate,
    ingest,
    pad,
    register,
    tokenize,
    train,
    validate,
)

pytestmark = pytest.mark.usefixtures("prefect_server")

SLICES = {
    "ingest": ingest.CONFIG,
    "tokenize": tokenize.CONFIG,
    "validate": validate.CONFIG,
    "pad": pad.CONFIG,
    "train": train.CONFIG,
    "evaluate": evaluate.CONFIG,
    "register": register.CONFIG,
    "baseline": baseline.CONFIG,
}
SECTION_NAMES = {
    model: name
    for name, field in RetrainConfig.model_fields.items()
    for model in [field.annotation]
}


@pytest.fixture
def recorded_reads(monkeypatch) -> dict[str, set[str]]:
    """Every ``section.field`` read inside a task, by task name."""
    reads: dict[str, set[str]] = {}
    for model in SECTION_MODELS:
        section = SECTION_NAMES.get(model, "sweep")
        fields = set(model.model_fields)
        original = model.__getattribute__

        def recording(self, name, _original=original, _fields=fields, _section=section):
            if name in _fields:
                context = TaskRunContext.get()
                if context is not None:
                    reads.setdefault(context.task.name, set()).add(f"{_section}.{name}")
            return _original(self, name)

        monkeypatch.setattr(model, "__getattribute__", recording)
    return reads


@pytest.mark.slow  # Trains through the whole flow.
def test_every_stage_reads_only_the_fields_it_declares(tiny_config, recorded_reads):
    # Streamed (several chunks) and then again with every stage cached: both paths read config.
    retrain(tiny_config(chunk_rows=70))
    retrain(tiny_config(chunk_rows=70))
    assert set(SLICES) <= set(recorded_reads), recorded_reads.keys()
    undeclared = {
        stage: sorted(recorded_reads[stage] - SLICES[stage].reads)
        for stage in SLICES
        if recorded_reads[stage] - SLICES[stage].reads
    }
    assert undeclared == {}


def test_the_recorder_sees_a_read_that_no_slice_declares(recorded_reads):
    from prefect import flow, task

    @task(name="peek")
    def peek(config: RetrainConfig) -> int:
        return config.training.epochs

    @flow(name="peek-flow")
    def peeking(config: RetrainConfig) -> int:
        return peek(config)

    peeking(RetrainConfig())
    assert recorded_reads["peek"] == {"training.epochs"}


def test_every_declared_field_exists():
    for stage, piece in SLICES.items():
        for name in piece.reads:
            section, field = name.split(".")
            assert field in RetrainConfig.model_fields[section].annotation.model_fields, (
                stage,
                name,
            )
