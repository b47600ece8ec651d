"""The stage cache: keyed on content across runs, explains each decision, heals bad artifacts."""

from pathlib import Path

import pytest

from rnn_retrain.flows.retrain import retrain
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.store.artifacts import ArtifactStore

# Every test runs the whole flow at least twice.
pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.slow]

STAGES = ["ingest", "tokenize", "validate", "pad", "baseline", "train", "evaluate"]


def statuses(summary) -> dict[str, str]:
    return {stage: decision.status for stage, decision in summary.stages.items()}


def test_a_rerun_reuses_every_stage_and_registers_nothing_new(tiny_config, tmp_path):
    first = retrain(tiny_config())
    assert statuses(first) == dict.fromkeys(STAGES, "ran")
    assert "no earlier run" in first.stages["ingest"].reason

    # The first run promoted a champion: the data gate compares with it, so it checks again.
    gated = retrain(tiny_config())
    assert statuses(gated) == {**dict.fromkeys(STAGES, "cached"), "validate": "ran"}
    assert gated.stages["validate"].reason == "input champion changed"

    second = retrain(tiny_config())
    assert statuses(second) == dict.fromkeys(STAGES, "cached")
    assert first.run_id in second.stages["train"].reason
    assert second.artifacts == gated.artifacts  # The same verified files, not copies.
    assert second.registration.reused and second.registration.version == "1"
    registry = ModelRegistry(first.registration.tracking_uri, first.registration.model_name)
    assert [str(version.version) for version in registry.versions()] == ["1"]


def test_changing_maxlen_recomputes_only_the_stages_downstream_of_pad(tiny_config, tmp_path):
    retrain(tiny_config())
    summary = retrain(tiny_config(maxlen=30))
    assert statuses(summary) == {
        "ingest": "cached",
        "tokenize": "cached",
        "validate": "ran",  # The truncation check reads maxlen.
        "pad": "ran",
        "baseline": "cached",  # It reads the snapshot, not the padded rows.
        "train": "ran",
        "evaluate": "ran",
    }
    assert summary.stages["pad"].reason == "text.maxlen 20 → 30"
    assert summary.stages["train"].reason == "input padded changed"


def test_changed_source_data_is_seen_even_under_the_same_file_name(
    tiny_config, tmp_path, demo_table
):
    import pyarrow.parquet as pq

    path = tmp_path / "reviews.parquet"
    pq.write_table(demo_table, path)
    retrain(tiny_config(data=str(path)))
    pq.write_table(demo_table.slice(0, 250), path)
    summary = retrain(tiny_config(data=str(path)))
    assert summary.stages["ingest"].status == "ran"
    assert summary.stages["ingest"].reason == "input source changed"
    assert summary.rows["total"] == 250


# One kind of damage in the fast subset; every kind in CI.
@pytest.mark.parametrize(
    "damage",
    [
        pytest.param("truncate", marks=pytest.mark.slow),
        pytest.param("alter", marks=pytest.mark.slow),
        "delete",
    ],
)
def test_a_damaged_cached_artifact_is_detected_by_checksum_and_recomputed(
    tiny_config, tmp_path, damage
):
    first = retrain(tiny_config())
    padded = Path(first.artifacts["pad/padded.parquet"].uri)
    data = padded.read_bytes()
    if damage == "truncate":
        padded.write_bytes(data[: len(data) // 2])
    elif damage == "alter":
        padded.write_bytes(data[:-9] + bytes(b ^ 0xFF for b in data[-9:]))
    else:
        padded.unlink()

    second = retrain(tiny_config())
    assert second.stages["pad"].status == "ran"
    problem = "is missing" if damage == "delete" else "expected"
    assert problem in second.stages["pad"].reason
    healed = second.artifacts["pad/padded.parquet"]
    assert (
        healed.uri != str(padded)
        and ArtifactStore(tiny_config().registry.artifact_root).check(healed) is None
    )
    # The recomputed padding has the same content, so nothing downstream of it reruns.
    assert healed.sha256 == first.artifacts["pad/padded.parquet"].sha256
    assert statuses(second)["train"] == "cached"

    third = retrain(tiny_config())
    assert statuses(third) == dict.fromkeys(STAGES, "cached")
    assert third.artifacts["pad/padded.parquet"] == healed


class _Exploit:
    """Unpickling it would create a file: proof that a record was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def cache_record_path(key: str) -> Path:
    from prefect.results import get_default_result_storage

    return Path(get_default_result_storage(_sync=True).basepath) / key


@pytest.mark.parametrize("tampering", ["pickle record", "raw pickle", "garbage"])
def test_a_tampered_cache_record_is_never_loaded_and_the_stage_recomputes(
    tiny_config, tmp_path, tampering
):
    import base64
    import json
    import pickle

    first = retrain(tiny_config())
    record = cache_record_path(first.stages["tokenize"].key)
    stored = json.loads(record.read_bytes())
    # What the cache holds: JSON, tagged with the stage result's model, no pickle.
    assert stored["metadata"]["serializer"]["type"] == "rnn-retrain-json"
    assert json.loads(stored["result"])["model"] == "TokenizeResult"

    marker = tmp_path / "executed"
    payload = pickle.dumps(_Exploit(marker))
    if tampering == "pickle record":  # A well-formed record that names Prefect's pickle.
        stored["metadata"]["serializer"] = {"type": "pickle", "picklelib": "pickle"}
        stored["result"] = base64.b64encode(payload).decode()
        record.write_text(json.dumps(stored))
    elif tampering == "raw pickle":  # Prefect would hand non-JSON bytes to its pickle loader.
        record.write_bytes(payload)
    else:
        record.write_bytes(b"\x00 not a record")

    second = retrain(tiny_config())
    tokenize = second.stages["tokenize"]
    assert tokenize.status == "ran" and "it was not loaded" in tokenize.reason
    assert not marker.exists()
    # The recomputed vocabulary is the same bytes: everything downstream stays cached.
    assert statuses(second)["pad"] == statuses(second)["train"] == "cached"
    assert second.registration.reused
