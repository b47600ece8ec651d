"""The data gate's measurements and checks, on small hand-made snapshots."""

import numpy as np
import pyarrow as pa
import pytest

from rnn_retrain.config.retrain import DataGateSettings
from rnn_retrain.data.preprocessing import tokenize_texts
from rnn_retrain.stages.tokenize import fit_vocabulary
from rnn_retrain.stages.validate import (
    DataStats,
    check_data,
    combine_stats,
    count_oov,
    decile_psi,
    deciles,
    describe_failure,
    duplicate_share,
    leakage_share,
    measure_chunk,
    minority_share,
    profile_data,
    rate,
    text_hashes,
)


def snapshot(texts, labels, splits) -> pa.Table:
    return pa.table(
        {
            "text": pa.array(texts, pa.string()),
            "label": pa.array(labels, pa.int8()),
            "split": pa.array(splits, pa.string()),
        }
    )


def by_check(findings):
    return {finding.check: finding for finding in findings}


def measure(table: pa.Table, vocabulary=None, champion=None, chunk_rows=1000) -> DataStats:
    """The validate stage's measurements of ``table``, taken ``chunk_rows`` rows at a time."""
    vocabulary = pa.array([], pa.string()) if vocabulary is None else vocabulary["token"]
    champion = None if champion is None else pa.array(champion["vocabulary"], pa.string())
    chunks = table.to_batches(max_chunksize=chunk_rows)
    return combine_stats(
        [measure_chunk(pa.Table.from_batches([chunk]), vocabulary, champion) for chunk in chunks]
    )


def test_measurements_count_what_they_say():
    assert duplicate_share(text_hashes(pa.array(["a", "b", "a", "a"]))) == pytest.approx(0.5)
    assert (
        leakage_share(text_hashes(pa.array(["x", "y"])), text_hashes(pa.array(["y", "z"]))) == 0.5
    )
    assert minority_share(np.array([1, 1, 1, 0])) == 0.25
    tokens = tokenize_texts(pa.array(["good film", "bad film film"]))
    assert count_oov(tokens, pa.array(["film"])).tolist() == [2, 5]
    assert rate(np.array([2, 5])) == pytest.approx(2 / 5)


def test_measurements_do_not_depend_on_the_chunks(demo_table):
    table = demo_table.append_column("split", pa.array(["train", "test"] * 150))
    vocabulary = fit_vocabulary(tokenize_texts(table["text"]), 40)
    whole, chunked = measure(table, vocabulary), measure(table, vocabulary, chunk_rows=7)
    for name in ("hashes", "is_train", "labels", "lengths", "own_oov"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(chunked, name))
    assert whole.own_oov[0] > 0  # A 40-id vocabulary leaves tokens out.


def test_length_psi_is_zero_on_the_reference_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    reference = rng.integers(50, 500, size=20_000)
    edges = deciles(reference)
    assert decile_psi(reference, edges) < 0.01
    assert decile_psi(rng.integers(50, 500, size=5_000), edges) < 0.02
    assert decile_psi(reference // 3, edges) > 1.0  # Reviews three times shorter.


def test_a_clean_snapshot_passes_and_drift_checks_wait_for_a_champion(demo_table):
    splits = ["train"] * 240 + ["test"] * 60
    table = demo_table.append_column("split", pa.array(splits))
    findings = by_check(check_data(measure(table), None, DataGateSettings(), maxlen=500))
    assert findings["class_balance"].severity == "ok"
    assert findings["truncation"].severity == "ok" and findings["truncation"].value == 0.0
    assert findings["oov_rate"].severity == "skipped"
    assert findings["length_drift"].severity == "skipped"


def test_leakage_is_an_error_and_duplicates_a_warning_by_default():
    texts = ["same review"] * 3 + ["other one", "third text", "fourth text"]
    table = snapshot(
        texts, [1, 0, 1, 0, 1, 0], ["train", "train", "test", "train", "train", "test"]
    )
    findings = by_check(check_data(measure(table), None, DataGateSettings(), maxlen=500))
    assert findings["leakage"].severity == "error" and findings["leakage"].value == 0.5
    assert findings["duplicates"].severity == "warning"
    message = describe_failure(list(findings.values()))
    assert "leakage: the share of test reviews also in the train split is 50.00%" in message
    assert "duplicates" not in message  # Warnings do not stop the run.


def test_severity_follows_data_gate_errors():
    table = snapshot(["a b", "c d", "e f", "g h"], [1, 1, 1, 0], ["train"] * 3 + ["test"])
    stats = measure(table)
    strict = DataGateSettings(min_class_share=0.4)
    assert by_check(check_data(stats, None, strict, 500))["class_balance"].severity == "error"
    lenient = DataGateSettings(min_class_share=0.4, data_gate_errors=())
    assert by_check(check_data(stats, None, lenient, 500))["class_balance"].severity == "warning"


def test_new_words_and_longer_reviews_are_flagged_against_the_champion_profile(demo_table):
    splits = pa.array(["train"] * 240 + ["test"] * 60)
    old = demo_table.append_column("split", splits)
    vocabulary = fit_vocabulary(tokenize_texts(old["text"]), 1000)
    profile = profile_data(measure(old, vocabulary), vocabulary)
    assert profile["oov_rate"] == 0.0 and len(profile["length_deciles"]) == 9

    same = by_check(check_data(measure(old, vocabulary, profile), profile, DataGateSettings(), 500))
    assert same["oov_rate"].severity == "ok" and same["length_drift"].severity == "ok"

    texts = [f"{text} zorblax quuxly frobnicated wibble" for text in old["text"].to_pylist()]
    new = old.set_column(0, "text", pa.array(texts))
    drifted = by_check(
        check_data(measure(new, vocabulary, profile), profile, DataGateSettings(), 500)
    )
    assert drifted["oov_rate"].severity == "warning" and drifted["oov_rate"].value > 0.1
    assert drifted["length_drift"].severity == "warning"
