"""The run a task belongs to, and the artifact store it writes to.

Pure stage functions (`rnn_retrain.stages`) never import this module; the tasks and flows do.
"""

from __future__ import annotations

import functools
import uuid

from prefect.runtime import flow_run

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.store.artifacts import ArtifactStore

# The subflow whose tasks belong to the run that called it (see `rnn_retrain.flows.prepare`).
PREPARE_FLOW = "prepare-data"


def current_run_id() -> str:
    """The run's id: the retrain or sweep flow run (its prepare-data subflow's tasks included).

    A fresh id when a task runs outside a flow (tests, notebooks).
    """
    run_id = flow_run.id
    return _owning_run(run_id) if run_id else f"local-{uuid.uuid4().hex[:12]}"


@functools.lru_cache(maxsize=1024)
def _owning_run(run_id: str) -> str:
    # At most two API calls per run and process (none inside a flow): the flow's name, and for
    # a prepare-data run its parent. Called on its own, the subflow is the run.
    if flow_run.flow_name == PREPARE_FLOW:
        return flow_run.parent_flow_run_id or run_id
    return run_id


def store_for(config: RetrainConfig) -> ArtifactStore:
    """The artifact store named by the configuration."""
    return ArtifactStore(config.registry.artifact_root)
