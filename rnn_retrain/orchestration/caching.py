"""The stage cache: a Prefect cache policy keyed on content, that explains itself and heals.

Prefect's default policy keys on the task's inputs *and the run id*, so nothing is reused across
runs. `StageCache` keys a stage on what decides its output: the sha256 of every input artifact
(for ingest, a digest of the source data), the configuration fields that change its output (the
stage's `ConfigSlice`), the artifact root and a code version. Prefect then stores the stage's result (small artifact references) under
that key and returns it, as a Cached state, to any later run with the same key.

Before Prefect looks the key up, the policy checks the artifacts of the stored result: a missing
artifact, or one whose sha256 no longer matches, makes the policy hand Prefect a new "heal" key, so
the stage recomputes instead of passing on bad data. Each decision is logged as one line per stage,
"cached" or "ran" and why, and kept for the run summary.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prefect import get_run_logger
from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from pydantic import BaseModel

from rnn_retrain.config.retrain import ConfigSlice, RetrainConfig
from rnn_retrain.errors import RetrainError
from rnn_retrain.orchestration.retries import RETRY_SETTINGS
from rnn_retrain.orchestration.runs import current_run_id, store_for
from rnn_retrain.orchestration.serializer import (
    MissingRecordError,
    StageResultSerializer,
    UnsafeRecordError,
    read_vetted_record,
)
from rnn_retrain.results import StageDecision
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore
from rnn_retrain.store.cache_records import CacheRecords

# Bump when a stage's code changes what it writes: every cached result is then recomputed.
# 2: configuration fields named by section (text.maxlen); results stored as JSON, not pickle.
# 3: the snapshot, token ids and padded rows carry group_key (the validation split's groups).
CACHE_VERSION = 3
MAX_HEALS = 5


_decisions: dict[str, dict[str, StageDecision]] = {}
_decisions_lock = threading.Lock()


def stage_decisions(run_id: str) -> dict[str, StageDecision]:
    """The cache decisions taken so far in flow run ``run_id`` (in this process), by stage."""
    with _decisions_lock:
        return dict(_decisions.get(run_id, {}))


def forget_stage_decisions(run_id: str) -> None:
    """Drop a finished run's decisions (a long-lived `retrain serve` process runs many)."""
    with _decisions_lock:
        _decisions.pop(run_id, None)


@dataclass(kw_only=True)
class StageCache(CachePolicy):
    """Cache a stage across runs on the content of its inputs and the config fields it reads.

    Attributes:
        stage: The stage name, part of the key and of the log line.
        slice: The configuration fields the stage reads; its ``output`` fields are keyed.
        fingerprint: For a stage that reads outside the artifact store (ingest's source data,
            the data gate's champion), a function of the config that identifies that input.
        fingerprint_name: What the fingerprint identifies, as named in the explanations.
    """

    stage: str
    slice: ConfigSlice
    fingerprint: Callable[[RetrainConfig], str] | None = field(default=None)
    fingerprint_name: str = "source"

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        config: RetrainConfig = inputs["config"]
        store = store_for(config)
        try:
            components = self.components(inputs, config, store)
        except RetrainError:
            return None  # Unreadable source: the stage itself reports the error, uncached.
        base = f"retrain-{self.stage}-{_digest(components)[:40]}"
        entries = CacheRecords(store).read(self.stage)
        key, problem, found = _healthy_key(base, task_ctx.result_store, store)
        if found:
            origin = entries.get(base, {}).get("run_id", "an earlier run")
            decision = StageDecision(
                stage=self.stage,
                status="cached",
                reason=f"inputs unchanged since run {origin}",
                key=key,
            )
        else:
            reason = problem or explain_recompute(base, components, entries)
            decision = StageDecision(stage=self.stage, status="ran", reason=reason, key=key)
            CacheRecords(store).write(
                self.stage, base, {"components": components, "run_id": current_run_id()}
            )
        _remember(decision)
        get_run_logger().info("%s: %s (%s)", self.stage, decision.status, decision.reason)
        return key

    def components(
        self, inputs: dict[str, Any], config: RetrainConfig, store: ArtifactStore
    ) -> dict[str, Any]:
        """What the key is computed from, in a form that is readable in the cache index."""
        upstream = {
            name: _content(value) for name, value in sorted(inputs.items()) if name != "config"
        }
        if self.fingerprint is not None:
            upstream[self.fingerprint_name] = self.fingerprint(config)
        components = {
            "stage": self.stage,
            "version": CACHE_VERSION,
            "artifact_root": store.root,
            "inputs": upstream,
            "config": dict(sorted(self.slice.values(config).items())),
        }
        # As stored in the index (tuples become lists), so a comparison sees no false change.
        return json.loads(json.dumps(components, default=str))


def cached_stage(
    stage: str,
    slice: ConfigSlice,
    fingerprint: Callable[[RetrainConfig], str] | None = None,
    fingerprint_name: str = "source",
) -> dict[str, Any]:
    """The @task options of a cached stage: its cache policy, JSON results, and retries."""
    return {
        "name": stage,
        "cache_policy": StageCache(
            stage=stage, slice=slice, fingerprint=fingerprint, fingerprint_name=fingerprint_name
        ),
        "persist_result": True,
        "result_serializer": StageResultSerializer(),
        **RETRY_SETTINGS,
    }


def explain_recompute(base: str, components: dict[str, Any], entries: dict[str, Any]) -> str:
    """Say why a stage must run: what changed since the most recent other key, or what is gone."""
    if base in entries:
        return "an earlier run with the same inputs did not finish, or its cache record is gone"
    if not entries:
        return "no earlier run of this stage on this artifact root"
    previous = list(entries.values())[-1]["components"]
    if previous.get("version") != components["version"]:
        return "stage code version changed"
    changes = [
        f"{name} {previous['config'].get(name)!r} → {value!r}"
        for name, value in components["config"].items()
        if previous["config"].get(name) != value
    ]
    changes += [
        f"input {name} changed"
        for name, value in components["inputs"].items()
        if previous["inputs"].get(name) != value
    ]
    if previous.get("artifact_root") != components["artifact_root"]:
        changes.append("artifact root changed")
    return "; ".join(changes) or "no earlier run with these inputs"


def _healthy_key(
    base: str, result_store: Any, store: ArtifactStore
) -> tuple[str, str | None, bool]:
    """Follow heal keys from ``base`` until one is unused or holds a result that verifies.

    Records are read by `read_vetted_record`, never by Prefect's `exists` or `read`, which
    would decode whatever serializer a record names (pickle included).

    Returns:
        The key to use; why the stage must recompute (None when the key's result is good or
        there is none yet); and whether the key holds a good result (a cache hit).
    """
    key, problem = base, None
    for _ in range(MAX_HEALS + 1):
        try:
            cached = read_vetted_record(result_store, key)
        except MissingRecordError:
            return key, problem, False
        except UnsafeRecordError as error:  # Never decoded: a pickle would run code.
            found = f"{error}; it was not loaded"
        except Exception as error:  # An unreadable record (an old class, say) is recomputed.
            found = f"the cached result cannot be read ({type(error).__name__})"
        else:
            found = next(filter(None, map(store.check, artifact_refs(cached))), None)
        if found is None:
            return key, None, True
        problem = f"{found}; recomputed"
        key = f"{base}-heal-{_digest({'key': key, 'problem': found})[:12]}"
    # Every key of the chain holds a bad result (its artifacts were lost again and again): hand
    # Prefect a key no run has used, never the last of the chain unchecked, which Prefect would
    # return as Cached with its artifacts missing.
    problem = f"{problem}; {MAX_HEALS} earlier repairs were lost too"
    return f"{base}-heal-{uuid.uuid4().hex[:12]}", problem, False


def artifact_refs(result: Any) -> list[ArtifactRef]:
    """The artifact references held by a stage result (a reference, or a model of them)."""
    if isinstance(result, ArtifactRef):
        return [result]
    if isinstance(result, BaseModel):
        return [ref for value in result.__dict__.values() for ref in artifact_refs(value)]
    return []


def _content(value: Any) -> Any:
    """What identifies an input: an artifact's sha256, a stage result's artifacts' sha256s."""
    if isinstance(value, (ArtifactRef, BaseModel)):
        return sorted(ref.sha256 for ref in artifact_refs(value))
    return value


def _remember(decision: StageDecision) -> None:
    with _decisions_lock:
        _decisions.setdefault(current_run_id(), {})[decision.stage] = decision


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
